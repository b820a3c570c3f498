"""`rootwatch local`: the whole hub on this machine, on moto's server, with no AWS account."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

from rootwatch.cli.main import UsageError

_PROGRAM: Final = "rootwatch local"


def default_events() -> Path:
    """`events/` of the working directory, else the sample events of this source tree."""
    here = Path.cwd() / "events"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[4] / "events"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run the hub on this machine (moto) on sample or given events",
        description=(
            "Provision the hub from template.yaml on moto's server on 127.0.0.1, and a spoke "
            "from spoke/template.yaml in each account and region the events come from; import "
            "the account entries (names, partners, their own Slack channels) beside the events; "
            "put each event on its spoke's default bus, so that the spoke's rules forward it to "
            "the hub bus; run the real functions until every queue is empty, with the "
            "spokes' heartbeats and the watchdog; and show the alerts as they read in Slack, "
            "the email sent, the audit log and the spokes. No AWS account and no Docker needed."
        ),
    )
    parser.add_argument(
        "--events",
        nargs="+",
        metavar="PATH",
        type=Path,
        help="files or directories of events, in any form `rootwatch scan` reads "
        "(default: the sample events in events/)",
    )
    parser.add_argument(
        "--accounts",
        action="append",
        metavar="FILE",
        type=Path,
        help="account entries to import first, as `rootwatch accounts import --file` reads "
        "them (names, partners, Slack secrets, emails, min severity); repeatable "
        "(default: accounts.yaml, .yml or .csv beside the events, if there is one)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="also write audit.jsonl, incidents.jsonl, slack.jsonl, email.jsonl, dlq.jsonl "
        "and the functions' logs to DIR",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the hub running afterwards and print its endpoint, for rootwatch "
        "commands and boto3 (--endpoint-url), until Ctrl-C",
    )
    parser.add_argument(
        "--silence",
        action="append",
        default=[],
        metavar="ACCOUNT[:REGION]",
        help="stop the heartbeats of this account's spoke (in one region, or all of its "
        "regions) as if for a few intervals, so the watchdog reports it; repeatable",
    )
    parser.add_argument(
        "--template",
        metavar="PATH",
        type=Path,
        help="hub template (default: template.yaml of the working directory or project)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # moto and boto3 take a while to import: only this command pays for them.
    from rootwatch.cli.entries import EntryError  # noqa: PLC0415
    from rootwatch.local.hub import default_template  # noqa: PLC0415
    from rootwatch.local.provision import ProvisioningError  # noqa: PLC0415
    from rootwatch.local.runner import run_local, use_styles  # noqa: PLC0415
    from rootwatch.local.spokes import SilenceRequest, UnknownSpokeError  # noqa: PLC0415
    from rootwatch.local.template import TemplateError  # noqa: PLC0415

    paths: list[Path] = args.events or [default_events()]
    missing = [str(path) for path in [*paths, *(args.accounts or ())] if not path.exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    template: Path = args.template or default_template()
    if not template.is_file():
        raise UsageError(f"no hub template at {template}: pass --template")
    try:
        silence = [SilenceRequest.parse(text) for text in args.silence]
    except ValueError as error:
        raise UsageError(f"--silence {error}") from None
    try:
        result = run_local(
            paths,
            template=template,
            out=args.out,
            stream=sys.stdout,
            styled=use_styles(sys.stdout),
            serve=args.serve,
            error_stream=sys.stderr,
            silence=silence,
            accounts=args.accounts,
        )
    except UnknownSpokeError as error:
        raise UsageError(str(error)) from None
    except EntryError as error:
        raise UsageError(f"account entries: {error}") from None
    except (TemplateError, ProvisioningError) as error:
        print(f"{_PROGRAM}: cannot provision the hub from {template}: {error}", file=sys.stderr)
        return 1
    return 2 if result.input_errors else 0
