"""Paging of the listings (`events`, `incidents`): options, tokens, a page read and printed.

A continuation token is opaque to people and checked when it comes back: it carries where
the previous page ended (the index stamp of its last item) and a digest of the filters it
was printed for, so a token reused with other filters is refused instead of silently
listing something else.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from rootwatch.cli.main import UsageError
from rootwatch.cli.output import Column
from rootwatch.cli.target import DEFAULT_LIMIT, option, print_page

if TYPE_CHECKING:
    from rootwatch.adapters.queries import AuditReader, Page

_VERSION: Final = 1
# Items whose time is a little older than the retention may still be stored (TTL counts
# from when they were received, and DynamoDB deletes expired items late).
RETENTION_MARGIN: Final = timedelta(days=2)


class PageRead(Protocol):
    def __call__(
        self,
        reader: AuditReader,
        *,
        limit: int,
        now: datetime,
        oldest: datetime,
        before: str | None,
    ) -> Page: ...


def add_paging_options(parser: argparse.ArgumentParser) -> None:
    paging = parser.add_argument_group("paging")
    paging.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N per page (default {DEFAULT_LIMIT})",
    )
    paging.add_argument(
        "--next-token", metavar="TOKEN", help="continue where the previous page ended"
    )


def print_listing(
    args: argparse.Namespace,
    *,
    noun: str,
    filter_names: Sequence[str],
    now: datetime,
    limit: int,
    read: PageRead,
    row: Callable[[Mapping[str, Any], str], dict[str, Any]],
    columns: Sequence[Column],
    shrink: Sequence[tuple[str, int]],
    keys: Sequence[str],
) -> None:
    """The page `--next-token` asks for (the first without it), read from the hub and printed
    with the token that continues it; `row` shapes an item for the output format."""
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    filters = {name: getattr(args, name) for name in filter_names}
    digest = filters_digest(noun, {"filters": filters, "stack": option(args, "stack_name")})
    before = decode_token(args.next_token, digest) if args.next_token else None
    hub = connect(args)
    page = read(
        hub.reader(),
        limit=limit,
        now=now,
        oldest=now - hub.retention - RETENTION_MARGIN,
        before=before,
    )
    output = option(args, "output")
    print_page(
        [row(item, output) for item in page.items],
        noun=noun,
        next_token=encode_token(page.resume_before, digest) if page.resume_before else None,
        output=output,
        columns=columns,
        shrink=shrink,
        keys=keys,
        empty=f"no {noun} match",
    )


def filters_digest(command: str, filters: Mapping[str, object]) -> str:
    canonical = json.dumps([command, filters], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_token(position: str, digest: str) -> str:
    payload = json.dumps({"v": _VERSION, "after": position, "for": digest}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, digest: str) -> str:
    """The position a token resumes from; UsageError when it is not one of ours for these
    filters."""
    text = token.strip()
    try:
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        payload = None
    if (
        not isinstance(payload, dict)
        or payload.get("v") != _VERSION
        or not isinstance(payload.get("after"), str)
        or not payload["after"]
    ):
        raise UsageError("--next-token is not a token that this command printed")
    if payload.get("for") != digest:
        raise UsageError(
            "--next-token was printed for other filters: repeat the filters of the first page"
        )
    position: str = payload["after"]
    return position
