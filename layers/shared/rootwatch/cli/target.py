"""What every hub command shares: its target options, error reporting and printing.

The options name the hub (`--stack-name`, `--profile`, `--region`, `--endpoint-url`) and
the output format; `rootwatch.cli.hub` resolves them into clients. `hub_command` wraps a
command so that AWS and environment failures end in one line saying what to do, with exit
status 1 (2 for usage), never a traceback.

This module stays free of boto3, which every parser build would otherwise import: commands
import `rootwatch.cli.hub` and the adapters when they run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, Final, TextIO

from rootwatch.cli.main import UsageError
from rootwatch.cli.output import Column, write_csv, write_json, write_table
from rootwatch.cli.timeparse import describe_moment, parse_iso, parse_moment
from rootwatch.model import Severity

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

DEFAULT_STACK_NAME: Final = "rootwatch-hub"
DEFAULT_REGION: Final = "us-east-1"
OUTPUT_FORMATS: Final = ("table", "json", "csv")
DEFAULT_RETENTION_DAYS: Final = 400
# The hub stack's outputs every command may need.
TABLE_OUTPUT: Final = "TableName"
NOTIFY_QUEUE_OUTPUT: Final = "NotifyQueueUrl"
NOTIFY_DLQ_OUTPUT: Final = "NotifyDeadLetterQueueUrl"
INGEST_QUEUE_OUTPUT: Final = "IngestQueueUrl"
INGEST_DLQ_OUTPUT: Final = "IngestDeadLetterQueueUrl"
BUS_NAME_OUTPUT: Final = "EventBusName"
BUS_ARN_OUTPUT: Final = "EventBusArn"
HUB_OUTPUTS: Final = (
    TABLE_OUTPUT,
    NOTIFY_QUEUE_OUTPUT,
    NOTIFY_DLQ_OUTPUT,
    INGEST_QUEUE_OUTPUT,
    INGEST_DLQ_OUTPUT,
    BUS_NAME_OUTPUT,
    BUS_ARN_OUTPUT,
)


class CommandFailure(Exception):
    """A failure reported as `rootwatch: error: ...` with exit status 1."""


def add_target_options(
    parser: argparse.ArgumentParser, *, outputs: Sequence[str] = OUTPUT_FORMATS, inherit: bool
) -> None:
    """`--stack-name`, `--profile`, `--region`, `--endpoint-url` and `--output`.

    `inherit` is for the parser of a subcommand whose parent takes these options too: its
    options then have no default, so a value given before the subcommand is kept.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if inherit else value

    group = parser.add_argument_group("where the hub is")
    group.add_argument(
        "--stack-name",
        default=default(DEFAULT_STACK_NAME),
        help=f"hub stack whose outputs name the table and queues (default {DEFAULT_STACK_NAME})",
    )
    group.add_argument("--profile", default=default(None), help="AWS named profile")
    group.add_argument(
        "--region",
        default=default(None),
        help=f"region of the hub stack (default: the profile's, else {DEFAULT_REGION})",
    )
    group.add_argument(
        "--endpoint-url",
        default=default(None),
        metavar="URL",
        help="AWS endpoint, such as the one `rootwatch local --serve` prints",
    )
    group.add_argument(
        "--output",
        choices=outputs,
        default=default(outputs[0]),
        help=f"output format (default {outputs[0]})",
    )


def option(args: argparse.Namespace, name: str) -> Any:
    """A target option, with its default when the parser left it out (`inherit`)."""
    defaults = {
        "stack_name": DEFAULT_STACK_NAME,
        "profile": None,
        "region": None,
        "endpoint_url": None,
        "output": OUTPUT_FORMATS[0],
    }
    return getattr(args, name, defaults[name])


def hub_command(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The command, with its AWS and environment failures reported in one line."""

    @wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        from botocore.exceptions import (  # noqa: PLC0415 (only commands that call AWS)
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
            ProfileNotFound,
            ReadTimeoutError,
        )

        try:
            return run(args)
        except CommandFailure as failure:
            return fail(str(failure))
        except ProfileNotFound as error:
            raise UsageError(f"{error}: pass an existing --profile") from None
        except NoRegionError:
            raise UsageError("no region: pass --region or set one in the profile") from None
        except (NoCredentialsError, PartialCredentialsError):
            return fail(
                "no AWS credentials found: configure them (aws configure, or aws sso login) "
                "and pass --profile, or set AWS_PROFILE"
            )
        except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as error:
            return fail(_unreachable(args, error))
        except ClientError as error:
            return fail(_client_error(args, error))
        except BotoCoreError as error:
            return fail(str(error))
        except BrokenPipeError:
            # The reader of our output went away (`| head`); say nothing more to it.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0

    return guarded


def fail(message: str) -> int:
    print(f"rootwatch: error: {message}", file=sys.stderr)
    return 1


def _unreachable(args: argparse.Namespace, error: Exception) -> str:
    endpoint_url = option(args, "endpoint_url")
    if endpoint_url:
        return (
            f"cannot reach {endpoint_url}: is `rootwatch local --serve` running there? "
            f"({type(error).__name__})"
        )
    region = option(args, "region") or "the profile's region"
    return f"cannot reach AWS in {region}: check --region and the network ({error})"


def _client_error(args: argparse.Namespace, error: ClientError) -> str:
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Error"))
    message = str(details.get("Message", "")).strip()
    operation = error.operation_name
    if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
        return "the AWS credentials have expired: renew them (aws sso login) and try again"
    if code in {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException"}:
        region = option(args, "region") or "this region"
        return (
            f"the AWS credentials are not valid in {region} ({code}): check --profile, "
            "and that the region is enabled for the account"
        )
    if code.startswith("AccessDenied") or code == "UnauthorizedOperation":
        return f"access denied to {operation}: {message}"
    if code == "ResourceNotFoundException":
        return (
            f"{operation}: {message}: the stack's outputs name a resource that is gone; "
            "check --stack-name and --region"
        )
    return f"{operation} failed: {code}: {message}".rstrip(": ")


# printing ---------------------------------------------------------------------------


def print_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    output: str,
    columns: Sequence[Column],
    keys: Sequence[str],
    shrink: Sequence[tuple[str, int]] = (),
    stream: TextIO | None = None,
    empty: str | None = None,
) -> None:
    """Rows as a table, a JSON array or CSV; `empty` goes to stderr when there are none.

    `shrink` is how the table gives up width on a narrow terminal (`output.table_lines`).
    """
    out = stream or sys.stdout
    if output == "json":
        write_json(rows, out)
    elif output == "csv":
        write_csv(rows, keys, out)
    elif rows:
        write_table(rows, columns, out, shrink=shrink)
    if not rows and empty and output == "table":
        print(empty, file=sys.stderr)


def print_page(
    rows: Sequence[Mapping[str, Any]],
    *,
    noun: str,
    next_token: str | None,
    output: str,
    columns: Sequence[Column],
    keys: Sequence[str],
    empty: str,
    shrink: Sequence[tuple[str, int]] = (),
) -> None:
    """A page of a listing: JSON `{noun: [...], "next_token": ...}`, else rows and the
    token on stderr as `next: <token>`."""
    if output == "json":
        json.dump(
            {noun: list(rows), "next_token": next_token},
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        sys.stdout.write("\n")
        return
    print_rows(rows, output=output, columns=columns, keys=keys, shrink=shrink, empty=empty)
    sys.stdout.flush()
    if next_token:
        print(f"next: {next_token}", file=sys.stderr)


def comma_list(text: str | None) -> tuple[str, ...]:
    """`a,b, c` as its non-empty items."""
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def first_present(values: Iterable[str | None]) -> str | None:
    return next((value for value in values if value), None)


# validating filters -------------------------------------------------------------------

MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 50


def account_id(text: str, *, option_name: str = "--account") -> str:
    """A 12-digit account id, else a usage error naming the option."""
    stripped = text.strip()
    if len(stripped) != 12 or not stripped.isascii() or not stripped.isdigit():
        raise UsageError(f"{option_name} {text!r} is not a 12-digit AWS account id")
    return stripped


def page_limit(value: int) -> int:
    if not 1 <= value <= MAX_LIMIT:
        raise UsageError(f"--limit must be 1 to {MAX_LIMIT}, not {value}")
    return value


def time_range(
    since: str | None, until: str | None, *, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """`--since` and `--until` as moments (durations count back from now)."""
    try:
        start = parse_moment(since, now=now) if since else None
        end = parse_moment(until, now=now) if until else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    if start is not None and end is not None and start >= end:
        raise UsageError(
            f"--since ({describe_moment(start)}) must be before --until ({describe_moment(end)})"
        )
    return start, end


def severity_floor(text: str | None) -> Severity:
    try:
        return Severity.parse(text) if text else Severity.INFO
    except ValueError as error:
        raise UsageError(f"--severity: {error}") from None


SEVERITY_LABELS: Final = tuple(severity.label for severity in Severity)


def stored_time(value: Any) -> Any:
    """A stored ISO time as a datetime (tables print those in one style); else as is."""
    if not isinstance(value, str):
        return value
    try:
        return parse_iso(value)
    except ValueError:
        return value


def counts_text(counts: Any) -> Any:
    """`{"ListBuckets": 8, "GetUser": 1}` as `ListBuckets:8;GetUser:1`, most frequent first."""
    if not isinstance(counts, Mapping):
        return counts
    ranked = sorted(counts.items(), key=lambda pair: (-int(pair[1]), str(pair[0])))
    return ";".join(f"{name}:{count}" for name, count in ranked)
