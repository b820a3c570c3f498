"""The whole `rootwatch local` run: input events through the hub, then what came out.

`run_local` reads the inputs and the account entries files beside them (or those given),
starts a `LocalHub` that admits the inputs' accounts, imports the entries
(`rootwatch.local.accounts`) and, with spoke/template.yaml beside the hub template, starts
a spoke per account and region of the input (`rootwatch.local.spokes`). It puts every
event on its spoke's default bus (without spoke template, on the hub bus), drives the
functions until the queues are empty, plays the spokes' heartbeats of the last few
intervals (a silenced spoke sends only the oldest), fires the hub's schedules once (the
watchdog) and drains again. It returns a `LocalRunResult` and, unless told otherwise,
prints the alerts as they read in Slack, the email sent, the account entries, the audit
log and the spokes as tables, and anything that went wrong (dead letters, alarms,
function errors). `write_outputs` writes the same as JSON lines files.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final, TextIO

from rootwatch.adapters.spokes import DynamoSpokes
from rootwatch.cli.accounts import TABLE_COLUMNS as ENTRY_COLUMNS
from rootwatch.cli.accounts import TABLE_SHRINK as ENTRY_SHRINK
from rootwatch.cli.output import Column, table_lines, write_jsonl
from rootwatch.keys import iso
from rootwatch.local.accounts import (
    entries_files_beside,
    import_entries_files,
    read_entries_files,
)
from rootwatch.local.driver import Invocation, SetAside, write_function_logs
from rootwatch.local.hub import (
    DEFAULT_REGION,
    AlarmState,
    DeadLetterMessage,
    Email,
    LocalHub,
    PutReport,
    SlackPost,
    audit_events,
    incidents_of,
)
from rootwatch.local.inputs import InputEvent, read_inputs
from rootwatch.local.slack_text import render_payload
from rootwatch.local.spokes import (
    SilenceRequest,
    SpokeFleet,
    SpokeId,
    UnknownSpokeError,
    silenced_spokes,
    spokes_of,
)
from rootwatch.reader import RecordError

AUDIT_KEYS: Final = (
    "event_id",
    "event_time",
    "account_id",
    "region",
    "event_source",
    "event_name",
    "severity",
    "rules",
    "incident_id",
)
AUDIT_COLUMNS: Final = (
    Column("event_time", "TIME (UTC)"),
    Column("severity", "SEVERITY"),
    Column("account_id", "ACCOUNT"),
    Column("region", "REGION"),
    Column("event_name", "EVENT", max_width=32),
    Column("incident_id", "INCIDENT"),
    Column("rules", "RULES", max_width=40),
)
AUDIT_SHRINK: Final = (("rules", 12), ("event_name", 18), ("region", 9), ("rules", 6))
SPOKE_KEYS: Final = ("account_id", "region", "last_heartbeat", "status", "silent_alerted_at")
SPOKE_COLUMNS: Final = (
    Column("account_id", "ACCOUNT"),
    Column("region", "REGION"),
    Column("last_heartbeat", "LAST HEARTBEAT (UTC)"),
    Column("status", "STATUS"),
    Column("silent_alerted_at", "ALERTED (UTC)"),
)
SERVE_POLL_SECONDS: Final = 1.0
_ACCOUNT_ID: Final = re.compile(r"^\d{12}$")


@dataclass
class LocalRunResult:
    """Everything a local run produced, read back from the embedded AWS."""

    put: PutReport
    input_errors: list[RecordError]
    messages_handled: int
    audit: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    slack: list[SlackPost]
    emails: list[Email]
    dead_letters: list[DeadLetterMessage]
    alarms: list[AlarmState]
    function_errors: list[Invocation]
    set_aside: list[SetAside]
    allowed_account_ids: list[str] = field(default_factory=list)
    # The spokes the input went through (none without a spoke template), and those silenced.
    spokes: list[dict[str, Any]] = field(default_factory=list)
    silenced: list[str] = field(default_factory=list)
    # The account entries imported before the events, and the files they came from.
    accounts: list[dict[str, Any]] = field(default_factory=list)
    entries_files: list[str] = field(default_factory=list)

    @property
    def alarms_firing(self) -> list[AlarmState]:
        return [alarm for alarm in self.alarms if alarm.in_alarm]


def allowed_accounts(events: Iterable[InputEvent]) -> list[str]:
    """The accounts the input comes from: the hub admits exactly these (and itself)."""
    return sorted(
        {
            account
            for event in events
            if (account := event.account_id) is not None and _ACCOUNT_ID.match(account)
        }
    )


def collect(
    hub: LocalHub, put: PutReport, errors: list[RecordError], handled: int
) -> LocalRunResult:
    """What the run left in the embedded AWS and what the receivers got."""
    items = hub.table_items()
    return LocalRunResult(
        put=put,
        input_errors=errors,
        messages_handled=handled,
        audit=audit_events(items),
        incidents=incidents_of(items),
        slack=hub.slack_posts(),
        emails=hub.emails(),
        dead_letters=hub.dlq_messages(),
        alarms=hub.alarms(),
        function_errors=hub.function_errors,
        set_aside=list(hub.set_aside),
    )


def run_events(hub: LocalHub, events: Sequence[InputEvent]) -> tuple[PutReport, int]:
    """Put the events, drain, fire every schedule once, drain again."""
    put = hub.put_events(events)
    handled = hub.drain()
    hub.fire_schedules()
    handled += hub.drain()
    return put, handled


def run_through_spokes(
    hub: LocalHub,
    fleet: SpokeFleet,
    events: Sequence[InputEvent],
    *,
    silenced: Collection[SpokeId] = (),
    now: datetime | None = None,
) -> tuple[PutReport, int]:
    """Put the events on their spokes' buses, drain, play the spokes' heartbeats up to now
    (the silenced ones send only the oldest), drain, fire the hub's schedules, drain."""
    put = fleet.put_events(events)
    handled = hub.drain()
    fleet.play_heartbeats(now or datetime.now(UTC), silenced=silenced)
    handled += hub.drain()
    hub.fire_schedules()
    handled += hub.drain()
    return put, handled


def spoke_rows(hub: LocalHub, fleet: SpokeFleet, now: datetime) -> list[dict[str, Any]]:
    """The spokes the hub knows, read as `rootwatch spokes` reads them, worst first."""
    policy = fleet.policy
    spokes = DynamoSpokes(hub.endpoint.dynamodb(), hub.table_name).every()
    return [
        {
            "account_id": spoke.account_id,
            "region": spoke.region,
            "last_heartbeat": iso(spoke.last_heartbeat) if spoke.last_heartbeat else None,
            "status": policy.status(spoke, now),
            "silent_alerted_at": iso(spoke.silent_alerted_at) if spoke.silent_alerted_at else None,
        }
        for spoke in spokes
    ]


def run_local(
    paths: Sequence[str | Path],
    *,
    template: Path | None = None,
    out: Path | None = None,
    stream: TextIO | None = None,
    styled: bool = False,
    serve: bool = False,
    error_stream: TextIO | None = None,
    on_ready: Callable[[LocalHub], None] | None = None,
    silence: Sequence[SilenceRequest] = (),
    accounts: Sequence[Path] | None = None,
) -> LocalRunResult:
    """The `rootwatch local` run; prints to `stream` (and input errors to `error_stream`).

    `accounts` are account entries files to import before the events; None imports the
    entries file beside the inputs, if there is one. Raises `UnknownSpokeError` when
    `silence` names a spoke the input does not come from, and `EntryError` when an entries
    file cannot be read.
    """
    entries_files = read_entries_files(
        entries_files_beside(Path(path) for path in paths) if accounts is None else accounts
    )
    errors: list[RecordError] = []
    events = list(read_inputs(paths, on_error=errors.append))
    if error_stream is not None:
        for error in errors:
            error_stream.write(f"rootwatch local: skipped input: {error}\n")
    admitted = allowed_accounts(events)
    silenced = silenced_spokes(spokes_of(events, DEFAULT_REGION), silence)
    with LocalHub(template=template, allowed_account_ids=admitted) as hub:
        entries = import_entries_files(hub, entries_files)
        fleet = SpokeFleet.for_hub(hub)
        if fleet is None:
            if silenced:
                raise UnknownSpokeError(
                    f"--silence needs spoke/template.yaml beside {hub.template_path}"
                )
            put, handled = run_events(hub, events)
        else:
            put, handled = run_through_spokes(hub, fleet, events, silenced=silenced)
        result = collect(hub, put, errors, handled)
        result.allowed_account_ids = admitted
        result.accounts = entries
        result.entries_files = [str(entries_file.path) for entries_file in entries_files]
        if fleet is not None:
            result.spokes = spoke_rows(hub, fleet, datetime.now(UTC))
            result.silenced = [f"{account}:{region}" for account, region in sorted(silenced)]
        if out is not None:
            write_outputs(result, out)
            write_function_logs(hub.driver.runtimes, out / "logs")
        if stream is not None:
            print_result(result, hub, stream, styled=styled)
        if serve:
            if stream is not None:
                print_connection(hub, stream)
            if on_ready is not None:
                on_ready(hub)
            serve_forever(
                hub,
                stream,
                styled=styled,
                printed_posts=len(result.slack),
                fleet=fleet,
                silenced=silenced,
            )
    return result


# --- files ---


def write_outputs(result: LocalRunResult, directory: Path) -> None:
    """audit.jsonl, incidents.jsonl, slack.jsonl, email.jsonl and dlq.jsonl in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, Iterable[Mapping[str, Any]]] = {
        "audit.jsonl": ({**dict.fromkeys(AUDIT_KEYS), **item} for item in result.audit),
        "incidents.jsonl": result.incidents,
        "slack.jsonl": (
            {"destination": post.destination, "payload": post.payload, "status": post.status}
            for post in result.slack
        ),
        "email.jsonl": (
            {
                "to": list(email.to),
                "subject": email.subject,
                "text": email.text,
                "html": email.html,
                "via": email.via,
            }
            for email in result.emails
        ),
        "dlq.jsonl": (
            {"queue": letter.queue, "message": letter.message, "reason": letter.reason}
            for letter in result.dead_letters
        ),
    }
    if result.spokes:
        files["spokes.jsonl"] = result.spokes
    if result.accounts:
        files["accounts.jsonl"] = result.accounts
    for name, rows in files.items():
        with (directory / name).open("w", encoding="utf-8") as stream:
            write_jsonl(rows, stream)


# --- the terminal ---


def use_styles(stream: TextIO) -> bool:
    """Terminal styles for a terminal, unless NO_COLOR asks for none."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def print_result(result: LocalRunResult, hub: LocalHub, stream: TextIO, *, styled: bool) -> None:
    def line(text: str = "") -> None:
        stream.write(text + "\n")

    refused_events = f", {len(result.put.failed)} refused" if result.put.failed else ""
    where = f"the hub bus {hub.bus_name}"
    if result.spokes:
        accounts = len({spoke["account_id"] for spoke in result.spokes})
        where = (
            f"the default buses of {len(result.spokes)} spokes in {accounts} accounts, "
            f"whose rules forward to {where}"
        )
    line(
        f"rootwatch local · {hub.template_path.name} on {hub.endpoint.url} ({hub.region}) · "
        f"{result.put.put} events put on {where}{refused_events}"
    )
    for event, reason in result.put.failed:
        line(f"refused by PutEvents: {event.origin}: {reason}")
    if result.allowed_account_ids:
        line(f"accounts admitted: {', '.join(result.allowed_account_ids)}")
    if result.accounts:
        line()
        line(
            _heading(
                f"Account entries · {len(result.accounts)} from {', '.join(result.entries_files)}",
                styled,
            )
        )
        for text in table_lines(result.accounts, ENTRY_COLUMNS, shrink=ENTRY_SHRINK, width=100):
            line(text)
    accepted = [post for post in result.slack if post.accepted]
    line()
    line(_heading(f"Slack · {len(accepted)} messages", styled))
    for post in accepted:
        line()
        line(_dim(f"── {post.destination}", styled))
        line(render_payload(post.payload, styled=styled))
    refused = len(result.slack) - len(accepted)
    if refused:
        line()
        line(f"({refused} more posts were answered with an error and retried or given up)")
    line()
    line(_heading(f"Email · {len(result.emails)} messages", styled))
    for email in result.emails:
        line(f"  to {', '.join(email.to) or '(no subscriber)'} via {email.via}: {email.subject}")
    line()
    line(
        _heading(
            f"Audit log · {len(result.audit)} events in {len(result.incidents)} incidents "
            f"(table {hub.table_name})",
            styled,
        )
    )
    for text in table_lines(result.audit, AUDIT_COLUMNS, shrink=AUDIT_SHRINK, width=100):
        line(text)
    if result.spokes:
        print_spokes(result, stream, styled=styled)
    print_problems(result, stream, styled=styled)


def print_spokes(result: LocalRunResult, stream: TextIO, *, styled: bool) -> None:
    silent = sum(1 for spoke in result.spokes if spoke["status"] != "ok")
    silenced = f" · silenced: {', '.join(result.silenced)}" if result.silenced else ""
    stream.write("\n")
    stream.write(
        _heading(f"Spokes · {len(result.spokes)} · {silent} silent{silenced}", styled) + "\n"
    )
    for text in table_lines(result.spokes, SPOKE_COLUMNS, width=100):
        stream.write(text + "\n")


def print_problems(result: LocalRunResult, stream: TextIO, *, styled: bool) -> None:
    def line(text: str = "") -> None:
        stream.write(text + "\n")

    line()
    line(_heading(f"Dead-letter queues · {len(result.dead_letters)} messages", styled))
    for letter in result.dead_letters:
        line(f"  {letter.queue}: {letter.reason}")
    for aside in result.set_aside:
        line(f"  {aside.function} (not retried further): {aside.reason}")
    firing = result.alarms_firing
    line(_heading(f"Alarms · {len(firing)} in alarm", styled))
    for alarm in firing:
        line(f"  {alarm.name}: {alarm.metric} = {alarm.value:g} (threshold {alarm.threshold:g})")
    if result.function_errors:
        counts: dict[tuple[str, str], int] = {}
        for invocation in result.function_errors:
            key = (invocation.function, invocation.error or "")
            counts[key] = counts.get(key, 0) + 1
        line(_heading(f"Function errors · {len(result.function_errors)}", styled))
        for (function, error), count in counts.items():
            line(f"  {function} ({count} times): {error}")


def print_connection(hub: LocalHub, stream: TextIO) -> None:
    endpoint = hub.endpoint
    stream.write(
        "\nThe local hub keeps running (Ctrl-C stops it). Point rootwatch or boto3 at it:\n"
        f"  endpoint     {endpoint.url}\n"
        f"  region       {hub.region}\n"
        f"  stack        {hub.stack_name}\n"
        f"  table        {hub.table_name}\n"
        f"  bus          {hub.bus_name}\n"
        f"  credentials  AWS_ACCESS_KEY_ID={endpoint.access_key_id} "
        f"AWS_SECRET_ACCESS_KEY={endpoint.secret_access_key}\n"
        f"  e.g.         rootwatch events --endpoint-url {endpoint.url} --region {hub.region}\n"
        "Events put on the bus are processed as they arrive; new Slack messages print here.\n"
    )
    stream.flush()


def serve_forever(
    hub: LocalHub,
    stream: TextIO | None,
    *,
    styled: bool,
    printed_posts: int = 0,
    stop: threading.Event | None = None,
    fleet: SpokeFleet | None = None,
    silenced: Collection[SpokeId] = (),
) -> None:
    """Keep the hub working until stopped: drain, fire due schedules (the spokes' heartbeats
    too, except the silenced spokes'), show new alerts.

    Without `stop`, the first SIGINT or SIGTERM ends the loop after the current drain
    (a second Ctrl-C interrupts at once).
    """
    if stop is None:
        stop = _stop_on_signals()
    schedules = {schedule.name: schedule for schedule in hub.stack.schedules if schedule.enabled}
    intervals = {name: _rate_seconds(schedule.expression) for name, schedule in schedules.items()}
    last_fired = dict.fromkeys(schedules, time.monotonic())
    heartbeat_seconds = fleet.policy.interval.total_seconds() if fleet else None
    last_heartbeats = time.monotonic()
    while True:
        hub.drain()
        now = time.monotonic()
        if fleet and heartbeat_seconds and now - last_heartbeats >= heartbeat_seconds:
            fleet.beat(datetime.now(UTC), skip=silenced)
            last_heartbeats = now
        for name, interval in intervals.items():
            if interval is not None and now - last_fired[name] >= interval:
                hub.driver.fire(schedules[name], at=datetime.now(UTC))
                last_fired[name] = now
        posts = hub.slack_posts()
        if stream is not None:
            for post in posts[printed_posts:]:
                if post.accepted:
                    stream.write(_dim(f"\n── {post.destination}\n", styled))
                    stream.write(render_payload(post.payload, styled=styled) + "\n")
            stream.flush()
        printed_posts = len(posts)
        if stop.wait(SERVE_POLL_SECONDS):
            return


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


_RATE: Final = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS: Final = {"minute": 60, "hour": 3600, "day": 86400}


def _rate_seconds(expression: str) -> float | None:
    """The period of a `rate(...)` schedule; None for `cron(...)`, which is not timed here."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def _heading(text: str, styled: bool) -> str:
    return f"\x1b[1m{text}\x1b[22m" if styled else text


def _dim(text: str, styled: bool) -> str:
    return f"\x1b[2m{text}\x1b[22m" if styled else text
