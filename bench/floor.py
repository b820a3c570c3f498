"""The floor: gzip-decompress and JSON-parse CloudTrail log files, nothing else.

Run as `python bench/floor.py FILE...`; prints how many records it parsed, and on stderr
which parser it used. A scanner that parses every record in one process cannot go faster,
so this is what a scanner's throughput is compared with. It parses with the fastest full
JSON decoder installed (orjson or msgspec), chosen by timing both on the first file.
"""

from __future__ import annotations

import importlib
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

# wbits for a gzip container around a deflate stream with the largest window.
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_TRIALS = 3

Parser = Callable[[bytes], Any]


def installed_parsers() -> dict[str, Parser]:
    """Every full JSON decoder rootwatch may have installed, by name."""
    parsers: dict[str, Parser] = {}
    try:
        orjson = importlib.import_module("orjson")
        parsers["orjson"] = orjson.loads
    except ImportError:
        pass
    try:
        msgspec_json = importlib.import_module("msgspec.json")
        parsers["msgspec"] = msgspec_json.Decoder().decode
    except ImportError:
        pass
    if not parsers:
        parsers["json"] = importlib.import_module("json").loads
    return parsers


def fastest_parser(sample: bytes, parsers: dict[str, Parser]) -> tuple[str, Parser]:
    """The parser with the least CPU time on `sample`, best of a few trials each."""

    def best_time(parse: Parser) -> float:
        times = []
        for _ in range(_TRIALS):
            started = time.process_time()
            parse(sample)
            times.append(time.process_time() - started)
        return min(times)

    name = min(parsers, key=lambda candidate: best_time(parsers[candidate]))
    return name, parsers[name]


def _decompress(path: Path) -> bytes:
    return zlib.decompress(path.read_bytes(), wbits=_GZIP_WBITS)


def parse_all(paths: Iterable[Path], parse: Parser | None = None) -> int:
    """Decompresses and parses each log file; returns how many records they hold."""
    records = 0
    for path in paths:
        data = _decompress(path)
        if parse is None:
            _, parse = fastest_parser(data, installed_parsers())
        records += len(parse(data)["Records"])
    return records


def main(arguments: Sequence[str]) -> int:
    if not arguments:
        print("usage: floor.py FILE...", file=sys.stderr)
        return 2
    paths = [Path(argument) for argument in arguments]
    name, parse = fastest_parser(_decompress(paths[0]), installed_parsers())
    print(f"parser: {name}", file=sys.stderr)
    print(parse_all(paths, parse))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
