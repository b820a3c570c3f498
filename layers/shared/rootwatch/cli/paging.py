"""Continuation tokens of the listings: opaque to people, checked when they come back.

A token carries where the previous page ended (the index stamp of its last item) and a
digest of the filters it was printed for, so a token reused with other filters is refused
instead of silently listing something else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Final

from rootwatch.cli.main import UsageError

_VERSION: Final = 1


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
