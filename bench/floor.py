"""The floor: gzip-decompress and JSON-parse CloudTrail log files, nothing else.

Run as `python bench/floor.py FILE...` (it needs only orjson); prints how many records it
parsed. A scanner that parses every record in one process cannot go faster, so this is
what a scanner's throughput is compared with. orjson is the fastest JSON parser rootwatch
installs.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterable
from pathlib import Path

import orjson

# wbits for a gzip container around a deflate stream with the largest window.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def parse_all(paths: Iterable[Path]) -> int:
    """Decompresses and parses each log file; returns how many records they hold."""
    records = 0
    for path in paths:
        document = orjson.loads(zlib.decompress(path.read_bytes(), wbits=_GZIP_WBITS))
        records += len(document["Records"])
    return records


def main(arguments: list[str]) -> int:
    if not arguments:
        print("usage: floor.py FILE...", file=sys.stderr)
        return 2
    print(parse_all(Path(argument) for argument in arguments))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
