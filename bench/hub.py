"""`python -m bench hub`: the hub's processor on the local stack, and its handlers' cold import.

Measured in one run:

1. Throughput. A burst of root events (`bench.burst`: a few root sessions in several
   accounts, read-heavy, some critical) is put on the hub bus of `rootwatch local`'s stack
   (moto's server in this process) and drained by the local runner, which drives the real
   processor and notifier handlers as Lambda would. Timed end to end (put and drain) and
   for the processor alone (the time spent in its handler, its calls to the embedded AWS
   included). A small warm-up burst in other accounts runs first, so containers are warm.
2. AWS API calls. botocore's `before-call` hook on the session the handlers make their
   clients from counts every call, put down to the function that made it; the processor's
   are shown by operation, for the burst (all unique events) and for the same burst
   replayed (all duplicates). Both passes are checked: every event stored once, nothing
   dead-lettered, and the replay changed nothing and sent nothing.
3. Import time of each handler module (processor, notifier, heartbeat, watchdog) against
   `import boto3`, each in a fresh interpreter run as Lambda runs the function
   (`bench.imports`): `--repeat` rounds (15; quick 3) of `import boto3` then the
   handler, judged on the median of the rounds' ratios. For
   reference, the same for a module of powertools alone as the SQS handlers use it
   (Logger, Metrics, Tracer, batch processing): the floor under every such handler.

Goals: at most 3 AWS calls per unique event on average over the burst, 1 per duplicate,
and every handler's import at most 1.5x `import boto3`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import boto3
import moto
from rootwatch.local.driver import FunctionRuntime
from rootwatch.local.hub import LocalHub

from bench.burst import Burst, BurstSpec, generate_burst
from bench.calls import OUTSIDE, ApiCallCounter, CallCounts
from bench.imports import (
    BASELINE_MODULE,
    Handler,
    ImportMeasurementError,
    ImportTimes,
    heaviest_imports,
    import_costs,
    lambda_environment,
    lambda_layout,
    measure_imports,
)
from bench.report import Goal, exit_status, format_goals

NAME = "hub"
SUMMARY = "processor throughput and AWS calls per event on the local hub; handler import time"

DEFAULT_EVENTS: Final = 2_000
QUICK_EVENTS: Final = 200
DEFAULT_IMPORT_RUNS: Final = 15
QUICK_IMPORT_RUNS: Final = 3
WARM_UP_EVENTS: Final = 20
CALLS_PER_UNIQUE_EVENT: Final = 3.0
CALLS_PER_DUPLICATE: Final = 1.0
IMPORT_RATIO: Final = 1.5
PROCESSOR: Final = "processor"
NOTIFIER: Final = "notifier"
# A load average within this of the number of CPUs means other work competes for them.
BUSY_MARGIN: Final = 0.5
# Not a function: powertools as the SQS handlers use it, measured for reference.
FLOOR: Final = "powertools floor"
FLOOR_SOURCE: Final = """\
import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

logger = Logger()
metrics = Metrics()
tracer = Tracer(patch_modules=("botocore",))
processor = BatchProcessor(event_type=EventType.SQS)
"""
ROOT: Final = Path(__file__).resolve().parents[1]
LAYER_DIRECTORY: Final = ROOT / "layers" / "shared"
LAYER_REQUIREMENTS: Final = LAYER_DIRECTORY / "requirements.txt"


class MeasurementError(Exception):
    """The pipeline did not do what it must, so its figures would mean nothing."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        f"--records is the burst's number of events ({DEFAULT_EVENTS:,}; quick {QUICK_EVENTS}), "
        f"--repeat the runs of each import ({DEFAULT_IMPORT_RUNS}; quick {QUICK_IMPORT_RUNS})"
    )
    parser.add_argument(
        "--only",
        choices=("pipeline", "imports"),
        help="measure only the pipeline (throughput, calls) or only the handlers' imports",
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="import from source, as `sam build` deploys the functions and the layer "
        "(default: with compiled bytecode)",
    )


@dataclass(frozen=True, slots=True)
class Pass:
    """One burst through the pipeline: its timing, what each function did and called."""

    events: int
    seconds: float
    put_seconds: float
    handler_seconds: Mapping[str, float]
    invocations: Mapping[str, int]
    calls: Mapping[str, CallCounts]
    slack_posts: int
    emails: int

    def calls_of(self, function: str) -> CallCounts:
        return self.calls.get(function, CallCounts({}))

    def rate(self, seconds: float) -> float:
        return self.events / seconds if seconds > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class Pipeline:
    burst: Pass
    replay: Pass
    stored: int
    incidents: int


@dataclass(frozen=True, slots=True)
class Measured:
    pipeline: Pipeline | None
    imports: ImportTimes | None
    heaviest: Mapping[str, list[tuple[str, float]]] = field(default_factory=dict)
    bytecode: bool = True


def run(options: argparse.Namespace) -> int:
    events = options.records or (QUICK_EVENTS if options.quick else DEFAULT_EVENTS)
    runs = options.repeat or (QUICK_IMPORT_RUNS if options.quick else DEFAULT_IMPORT_RUNS)
    burst = generate_burst(BurstSpec(events=events, seed=options.seed))
    warm_up = generate_burst(
        BurstSpec(
            events=WARM_UP_EVENTS,
            seed=options.seed + 1,
            accounts=1,
            sessions=2,
            account_offset=len(burst.accounts),
        )
    )
    load_before = os.getloadavg()[0]
    try:
        measured = measure(
            burst,
            warm_up,
            pipeline=options.only != "imports",
            imports=options.only != "pipeline",
            runs=runs,
            bytecode=not options.no_bytecode,
        )
    except (MeasurementError, ImportMeasurementError) as error:
        _say(f"bench hub: {error}")
        return 2
    print(_header(burst, load=(load_before, os.getloadavg()[0])))
    if measured.pipeline is not None:
        print()
        print(format_pipeline(measured.pipeline))
        print()
        print(format_calls(measured.pipeline))
    if measured.imports is not None:
        print()
        print(format_imports(measured.imports, bytecode=measured.bytecode))
    goals = evaluate(measured.pipeline, measured.imports)
    print()
    print(format_goals(goals))
    for handler, heaviest in measured.heaviest.items():
        listed = ", ".join(f"{module} {seconds * 1000:.1f} ms" for module, seconds in heaviest)
        print(f"\n{handler} imports, beyond what boto3 imports, first of all: {listed}")
    processors = os.cpu_count() or 1
    if load_before >= processors - BUSY_MARGIN:
        print(
            f"\nthe machine was busy before the measurements (load average {load_before:.1f} on "
            f"{processors} CPUs): seconds are not reliable; ratios suffer less, as the two "
            "sides of each ratio run alternately"
        )
    return exit_status(goals)


def measure(
    burst: Burst,
    warm_up: Burst,
    *,
    pipeline: bool,
    imports: bool,
    runs: int,
    bytecode: bool = True,
) -> Measured:
    _say("starting the local hub")
    with LocalHub(allowed_account_ids=[*burst.accounts, *warm_up.accounts]) as hub:
        handlers = lambda_handlers(hub)
        import_times = None
        heaviest: dict[str, list[tuple[str, float]]] = {}
        if imports:
            with tempfile.TemporaryDirectory(prefix="rootwatch-floor-") as scratch:
                like = next((h for h in handlers if h.name == PROCESSOR), handlers[0])
                floor = powertools_floor(Path(scratch), like=like)
                with lambda_layout(
                    [*handlers, floor],
                    requirements=LAYER_REQUIREMENTS,
                    layer_directory=LAYER_DIRECTORY,
                    bytecode=bytecode,
                ) as layout:
                    _say(f"import times, {runs} runs of each handler and of boto3")
                    import_times = measure_imports(
                        layout.handlers, layer_path=layout.layer_path, runs=runs
                    )
                    for handler in layout.handlers:
                        over = import_times.ratio(handler.name) > IMPORT_RATIO
                        if handler.name != FLOOR and over:
                            heaviest[handler.name] = _heaviest(handler, layout.layer_path)
        measured_pipeline = measure_pipeline(hub, burst, warm_up) if pipeline else None
    return Measured(
        pipeline=measured_pipeline, imports=import_times, heaviest=heaviest, bytecode=bytecode
    )


def powertools_floor(directory: Path, *, like: Handler) -> Handler:
    """A handler module of powertools alone, as the SQS handlers use it, and no rootwatch.

    Its import is what every handler with Logger, Metrics, Tracer and batch processing
    pays before any code of its own: the floor that the import goal leaves room above.
    """
    (directory / "app.py").write_text(FLOOR_SOURCE, encoding="utf-8")
    environment = {**like.environment, "LAMBDA_TASK_ROOT": os.fspath(directory)}
    return Handler(name=FLOOR, directory=directory, module="app", environment=environment)


def lambda_handlers(hub: LocalHub) -> list[Handler]:
    """Each function of the hub's template, with the environment Lambda gives it."""
    handlers = []
    for runtime in hub.driver.runtimes.values():
        function = runtime.function
        module, _, _ = function.handler.rpartition(".")
        handlers.append(
            Handler(
                name=function_name(runtime),
                directory=function.code_dir,
                module=module,
                environment=lambda_environment(
                    runtime.environment, function.code_dir, function.handler
                ),
            )
        )
    return sorted(handlers, key=lambda handler: handler.name)


def function_name(runtime: FunctionRuntime) -> str:
    """The function's name in the source tree: its directory under functions/."""
    return runtime.function.code_dir.name


def measure_pipeline(hub: LocalHub, burst: Burst, warm_up: Burst) -> Pipeline:
    counter = ApiCallCounter()
    # The handlers make their clients with `boto3.client`, from boto3's default session.
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    with counter:
        counter.attach(boto3.DEFAULT_SESSION.events)
        clock = HandlerClock(counter)
        clock.instrument(hub.driver.runtimes.values())
        _say(f"warm-up: {len(warm_up.records)} events")
        _run_pass(hub, warm_up, counter, clock)
        _check_clean(hub)
        _say(f"burst: {len(burst.records):,} events")
        first = _run_pass(hub, burst, counter, clock)
        _check_clean(hub)
        stored = _stored_events(hub, burst)
        if stored != len(burst.records):
            raise MeasurementError(f"the burst stored {stored:,} of {len(burst.records):,} events")
        if first.calls_of(PROCESSOR).total == 0:
            raise MeasurementError("no AWS call of the processor was seen: the counter missed")
        incidents = sum(
            1 for incident in hub.incidents() if incident.get("account_id") in burst.accounts
        )
        _say(f"replay: the same {len(burst.records):,} events")
        replay = _run_pass(hub, burst, counter, clock)
        _check_clean(hub)
        if _stored_events(hub, burst) != stored or replay.slack_posts or replay.emails:
            raise MeasurementError("replaying the burst changed the audit log or sent messages")
    return Pipeline(burst=first, replay=replay, stored=stored, incidents=incidents)


class HandlerClock:
    """Times each function's invocations and puts its AWS calls down to it."""

    def __init__(self, counter: ApiCallCounter) -> None:
        self._counter = counter
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.invocations: Counter[str] = Counter()

    def instrument(self, runtimes: Iterable[FunctionRuntime]) -> None:
        for runtime in runtimes:
            runtime.invoke = self._timed(  # type: ignore[method-assign, assignment]
                function_name(runtime), runtime.invoke
            )

    def reset(self) -> None:
        self.seconds.clear()
        self.invocations.clear()

    def _timed(self, name: str, invoke: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def timed_invoke(event: Any) -> Any:
            with self._counter.calls_by(name):
                started = time.perf_counter()
                try:
                    return invoke(event)
                finally:
                    self.seconds[name] += time.perf_counter() - started
                    self.invocations[name] += 1

        return timed_invoke


def _run_pass(hub: LocalHub, burst: Burst, counter: ApiCallCounter, clock: HandlerClock) -> Pass:
    counter.reset()
    clock.reset()
    slack_before, emails_before = len(hub.slack_posts()), len(hub.emails())
    started = time.perf_counter()
    report = hub.put_events(burst.records)
    put_seconds = time.perf_counter() - started
    if report.failed:
        _, reason = report.failed[0]
        raise MeasurementError(f"{len(report.failed)} events were not put on the bus: {reason}")
    hub.drain()
    seconds = time.perf_counter() - started
    if OUTSIDE in counter.callers():
        # A function calling from a thread of its own would be undercounted.
        raise MeasurementError("AWS calls on the handlers' session outside any invocation")
    return Pass(
        events=len(burst.records),
        seconds=seconds,
        put_seconds=put_seconds,
        handler_seconds=dict(clock.seconds),
        invocations=dict(clock.invocations),
        calls={caller: counter.counts(caller) for caller in counter.callers()},
        slack_posts=len(hub.slack_posts()) - slack_before,
        emails=len(hub.emails()) - emails_before,
    )


def _check_clean(hub: LocalHub) -> None:
    errors = hub.function_errors
    if errors:
        raise MeasurementError(f"{errors[0].function} failed: {errors[0].error}")
    letters = hub.dlq_messages()
    if letters:
        raise MeasurementError(f"{len(letters)} messages were dead-lettered: {letters[0].reason}")


def _stored_events(hub: LocalHub, burst: Burst) -> int:
    return sum(1 for item in hub.audit_items() if item.get("account_id") in burst.accounts)


def _heaviest(handler: Handler, layer_path: Sequence[Path]) -> list[tuple[str, float]]:
    baseline = import_costs(handler, BASELINE_MODULE, layer_path=layer_path)
    costs = import_costs(handler, handler.module, layer_path=layer_path)
    heaviest = heaviest_imports(
        costs, handler.module, leave_out=[cost.module for cost in baseline], limit=6
    )
    return [(cost.module, cost.cumulative_us / 1e6) for cost in heaviest]


def evaluate(pipeline: Pipeline | None, imports: ImportTimes | None) -> list[Goal]:
    """The goals of `make bench` for the hub, judged on what was measured."""
    goals = []
    if pipeline is not None:
        unique = pipeline.burst.calls_of(PROCESSOR).per(pipeline.burst.events)
        duplicate = pipeline.replay.calls_of(PROCESSOR).per(pipeline.replay.events)
        goals.append(
            Goal(
                f"processor AWS calls per unique event <= {CALLS_PER_UNIQUE_EVENT:g} (burst)",
                unique <= CALLS_PER_UNIQUE_EVENT,
                _figure(unique, CALLS_PER_UNIQUE_EVENT),
            )
        )
        goals.append(
            Goal(
                f"processor AWS calls per duplicate <= {CALLS_PER_DUPLICATE:g} (replay)",
                duplicate <= CALLS_PER_DUPLICATE,
                _figure(duplicate, CALLS_PER_DUPLICATE),
            )
        )
    if imports is not None:
        for handler in sorted(set(imports.handlers) - {FLOOR}):
            ratio = imports.ratio(handler)
            goals.append(
                Goal(
                    f"{handler} import <= {IMPORT_RATIO:g}x import boto3",
                    ratio <= IMPORT_RATIO,
                    _figure(ratio, IMPORT_RATIO) + "x",
                )
            )
    return goals


def _figure(value: float, limit: float) -> str:
    """`value` with two decimals, or as many more as it takes to tell it from `limit`."""
    for decimals in range(2, 7):
        text = f"{value:.{decimals}f}"
        if value == limit or float(text) != limit:
            return text
    return text


def format_pipeline(pipeline: Pipeline) -> str:
    burst, replay = pipeline.burst, pipeline.replay
    rows = [
        ("pass", "events", "seconds", "events/s"),
        _rate_row("burst, end to end (put and drain)", burst, burst.seconds),
        _rate_row("burst, processor handler alone", burst, burst.handler_seconds.get(PROCESSOR, 0)),
        _rate_row("replay, end to end (put and drain)", replay, replay.seconds),
        _rate_row(
            "replay, processor handler alone", replay, replay.handler_seconds.get(PROCESSOR, 0)
        ),
    ]
    table = _table(rows)
    invocations = burst.invocations
    return (
        f"{table}\n"
        f"burst: {pipeline.stored:,} events stored, {pipeline.incidents} incidents; "
        f"{invocations.get(PROCESSOR, 0)} processor and {invocations.get(NOTIFIER, 0)} notifier "
        f"invocations, {burst.slack_posts} Slack messages, {burst.emails} emails; "
        f"putting the events took {burst.put_seconds:.1f} s\n"
        "replay: nothing stored, nothing sent"
    )


def _rate_row(label: str, run: Pass, seconds: float) -> tuple[str, ...]:
    return (label, f"{run.events:,}", f"{seconds:.1f}", f"{run.rate(seconds):,.0f}")


def format_calls(pipeline: Pipeline) -> str:
    burst = pipeline.burst.calls_of(PROCESSOR)
    replay = pipeline.replay.calls_of(PROCESSOR)
    events, duplicates = pipeline.burst.events, pipeline.replay.events
    operations = sorted(set(burst.by_operation) | set(replay.by_operation))
    rows = [("AWS calls of the processor", "burst", "per event", "replay", "per duplicate")]
    for operation in operations:
        made, again = burst.by_operation.get(operation, 0), replay.by_operation.get(operation, 0)
        rows.append(
            (
                operation,
                f"{made:,}",
                f"{made / events:.2f}",
                f"{again:,}",
                f"{again / duplicates:.2f}",
            )
        )
    rows.append(
        (
            "total",
            f"{burst.total:,}",
            f"{burst.per(events):.2f}",
            f"{replay.total:,}",
            f"{replay.per(duplicates):.2f}",
        )
    )
    notifier = pipeline.burst.calls_of(NOTIFIER)
    return (
        f"{_table(rows)}\n(counted with botocore's before-call hook; the notifier made "
        f"{notifier.total:,} calls for the burst's {pipeline.burst.slack_posts} Slack messages "
        f"and {pipeline.burst.emails} emails)"
    )


def format_imports(imports: ImportTimes, *, bytecode: bool = True) -> str:
    baseline = imports.baseline()
    rows = [
        (
            f"import, fresh interpreter as Lambda runs it (median of {imports.runs})",
            "ms",
            "x boto3",
            "CPU ms",
            "x boto3",
        ),
        (
            f"import {BASELINE_MODULE}",
            f"{baseline.wall * 1000:.0f}",
            "1.00",
            f"{baseline.cpu * 1000:.0f}",
            "1.00",
        ),
    ]
    for handler in sorted(imports.handlers, key=lambda name: (name == FLOOR, name)):
        sample = imports.time(handler)
        rows.append(
            (
                "floor: boto3, powertools Logger, Metrics, Tracer, batch"
                if handler == FLOOR
                else f"functions/{handler}/app.py",
                f"{sample.wall * 1000:.0f}",
                f"{imports.ratio(handler):.2f}",
                f"{sample.cpu * 1000:.0f}",
                f"{imports.cpu_ratio(handler):.2f}",
            )
        )
    compiled = (
        "bytecode compiled beforehand"
        if bytecode
        else "no bytecode: each import compiles from source, as deployed by sam build"
    )
    return (
        f"{_table(rows)}\n(python -S with only the layer's distributions, "
        f"{LAYER_REQUIREMENTS.relative_to(ROOT)} and their dependencies, and rootwatch "
        f"importable; {compiled})"
    )


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _header(burst: Burst, *, load: tuple[float, float]) -> str:
    kinds = burst.kinds
    return (
        f"bench hub · {datetime.now(UTC):%Y-%m-%d} · {os.cpu_count()} CPUs "
        f"(load average {load[0]:.1f} before, {load[1]:.1f} after) · "
        f"Python {platform.python_version()}, moto {moto.__version__}\n"
        f"burst: {len(burst.records):,} root events from {len(burst.sessions)} sessions in "
        f"{len(burst.accounts)} accounts: {kinds['read']:,} reads, {kinds['write']:,} writes, "
        f"{kinds['login-mfa']} sign-ins with MFA, {burst.critical} critical"
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
