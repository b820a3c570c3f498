"""The audit table's single-table layout: every key rootwatch writes or queries.

One DynamoDB table (`pk`, `sk`) with four overloaded global secondary indexes, so that
every listing the command line offers is a Query, never a Scan:

- root event: `EVENT#<id>` / `EVENT`; gsi1 `EVENTS#ACCOUNT#<acct>` / `t#id` (per account);
  gsi2 `EVENTS#<yyyy-mm>` / `t#id` (all accounts); gsi3 `EVENTS#SEVERITY#<s>` / `t#id`;
  gsi4 `INCIDENT#<inc>` / `t#id` (the incident's timeline).
- incident: `INCIDENT#<inc>` / `INCIDENT`; gsi1 `INCIDENTS#ACCOUNT#<acct>` / `t#inc`;
  gsi2 `INCIDENTS#<yyyy-mm>` / `t#inc` (t = opened at).
- open incident of an actor: `ACTOR#<acct>#<actor>` / `ACTOR` (no index).
- AssumeRoot session granted on an account: `ACCOUNT#<target acct>` / `ASSUMEROOT#<session>`
  (session = the temporary access key id, else the AssumeRoot event id; who called
  AssumeRoot, read with the account's entry in one Query; expires after a day; no index).
- source IP seen in an account: `ACCOUNT#<acct>` / `SOURCEIP#<ip>` (when root activity
  from it was first seen; read with the account's entry in one Query; expires a retention
  after it was last seen, as the events from it do; no index).
- spoke: `SPOKE#<acct>#<region>` / `SPOKE`; gsi1 `SPOKES#ACCOUNT#<acct>` / `<region>`;
  gsi2 `SPOKES` / `<last heartbeat>#<acct>#<region>` (stalest first).
- account entry: `ACCOUNT#<acct>` / `ACCOUNT`; gsi2 `ACCOUNTS` / `<acct>`.
- planned window: `ACCOUNT#<acct>` / `EXPECT#<id>` (read with the entry in one Query);
  gsi2 `EXPECTS` / `<ends at>#<id>`; gsi3 `EXPECT#<id>` / `EXPECT` (lookup by id).
- delivery record: `DELIVERY#<alert id>` / `<destination id>` (no index).

`EVENT_ATTRIBUTES` and `INCIDENT_ATTRIBUTES` are what the command line's listings read of
those items and print, in that order.

`t` is an ISO 8601 UTC timestamp with a `Z`, so string order is time order. Events and
incidents are partitioned by month in gsi2, so a time-range listing touches one partition
per month it spans. A spoke that is expected but never reported sorts first in `SPOKES`
(its sort key starts with `NEVER_REPORTED`), then the stalest.
"""

from __future__ import annotations

from datetime import datetime

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"
INDEXES: dict[str, tuple[str, str]] = {
    "gsi1": ("gsi1pk", "gsi1sk"),
    "gsi2": ("gsi2pk", "gsi2sk"),
    "gsi3": ("gsi3pk", "gsi3sk"),
    "gsi4": ("gsi4pk", "gsi4sk"),
}

NEVER_REPORTED = "0000-00-00T00:00:00Z"

EVENT_ATTRIBUTES: tuple[str, ...] = (
    "event_id",
    "event_time",
    "account_id",
    "account_name",
    "partner",
    "region",
    "event_source",
    "event_name",
    "severity",
    "rules",
    "summary",
    "outcome",
    "mfa",
    "source_ip",
    "user_agent",
    "error_code",
    "assumed_root",
    "assumed_root_caller",
    "invoked_by",
    "tamper",
    "incident_id",
    "planned_by",
    "planned_reason",
)
INCIDENT_ATTRIBUTES: tuple[str, ...] = (
    "incident_id",
    "severity",
    "account_id",
    "account_name",
    "partner",
    "actor",
    "opened_at",
    "last_seen",
    "closes_at",
    "event_count",
    "event_names",
    "regions",
    "assumed_root_caller",
    "alerted_severity",
    "messages_sent",
)


def iso(moment: datetime) -> str:
    """The canonical timestamp form stored in every key: UTC, seconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def month_bucket(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


# Index partitions: written by the *_index_keys builders below, read by the listings.
WINDOWS_PARTITION = "EXPECTS"


def account_events_partition(account_id: str) -> str:
    return f"EVENTS#ACCOUNT#{account_id}"


def month_events_partition(month: str) -> str:
    return f"EVENTS#{month}"


def severity_events_partition(severity: str) -> str:
    return f"EVENTS#SEVERITY#{severity}"


def incident_timeline_partition(incident_id: str) -> str:
    return f"INCIDENT#{incident_id}"


def account_incidents_partition(account_id: str) -> str:
    return f"INCIDENTS#ACCOUNT#{account_id}"


def month_incidents_partition(month: str) -> str:
    return f"INCIDENTS#{month}"


def event_key(event_id: str) -> dict[str, str]:
    return {PK: f"EVENT#{event_id}", SK: "EVENT"}


def event_index_keys(
    *, event_id: str, account_id: str, event_time: datetime, severity: str, incident_id: str | None
) -> dict[str, str]:
    stamp = f"{iso(event_time)}#{event_id}"
    keys = {
        "gsi1pk": account_events_partition(account_id),
        "gsi1sk": stamp,
        "gsi2pk": month_events_partition(month_bucket(event_time)),
        "gsi2sk": stamp,
        "gsi3pk": severity_events_partition(severity),
        "gsi3sk": stamp,
    }
    if incident_id:
        keys["gsi4pk"] = incident_timeline_partition(incident_id)
        keys["gsi4sk"] = stamp
    return keys


def incident_key(incident_id: str) -> dict[str, str]:
    return {PK: f"INCIDENT#{incident_id}", SK: "INCIDENT"}


def incident_index_keys(
    *, incident_id: str, account_id: str, opened_at: datetime
) -> dict[str, str]:
    stamp = f"{iso(opened_at)}#{incident_id}"
    return {
        "gsi1pk": account_incidents_partition(account_id),
        "gsi1sk": stamp,
        "gsi2pk": month_incidents_partition(month_bucket(opened_at)),
        "gsi2sk": stamp,
    }


def actor_key(account_id: str, actor: str) -> dict[str, str]:
    return {PK: f"ACTOR#{account_id}#{actor}", SK: "ACTOR"}


def assumed_root_key(account_id: str, session_id: str) -> dict[str, str]:
    return {PK: f"ACCOUNT#{account_id}", SK: f"ASSUMEROOT#{session_id}"}


def source_ip_key(account_id: str, source_ip: str) -> dict[str, str]:
    return {PK: f"ACCOUNT#{account_id}", SK: f"SOURCEIP#{source_ip}"}


def spoke_key(account_id: str, region: str) -> dict[str, str]:
    return {PK: f"SPOKE#{account_id}#{region}", SK: "SPOKE"}


def spoke_index_keys(
    *, account_id: str, region: str, last_heartbeat: datetime | None
) -> dict[str, str]:
    stamp = iso(last_heartbeat) if last_heartbeat else NEVER_REPORTED
    return {
        "gsi1pk": f"SPOKES#ACCOUNT#{account_id}",
        "gsi1sk": region,
        "gsi2pk": "SPOKES",
        "gsi2sk": f"{stamp}#{account_id}#{region}",
    }


def account_key(account_id: str) -> dict[str, str]:
    return {PK: f"ACCOUNT#{account_id}", SK: "ACCOUNT"}


def account_index_keys(account_id: str) -> dict[str, str]:
    return {"gsi2pk": "ACCOUNTS", "gsi2sk": account_id}


def window_key(account_id: str, window_id: str) -> dict[str, str]:
    return {PK: f"ACCOUNT#{account_id}", SK: f"EXPECT#{window_id}"}


def window_index_keys(*, window_id: str, ends_at: datetime) -> dict[str, str]:
    return {
        "gsi2pk": WINDOWS_PARTITION,
        "gsi2sk": f"{iso(ends_at)}#{window_id}",
        "gsi3pk": f"EXPECT#{window_id}",
        "gsi3sk": "EXPECT",
    }


def delivery_key(alert_id: str, destination_id: str) -> dict[str, str]:
    return {PK: f"DELIVERY#{alert_id}", SK: destination_id}
