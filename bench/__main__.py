"""`python -m bench [SECTION] [OPTIONS]`: rootwatch's benchmarks (`make bench`).

Each section is a module named in `SECTION_MODULES` that defines `NAME`, `SUMMARY`,
`add_arguments(parser)` for its own options and `run(options)`, which prints its report
and returns 0 when every goal holds, 1 when a goal failed, 2 when it could not measure.
`all`, the default, runs every section with the shared options and its own defaults.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

from bench.corpus import DEFAULT_CACHE_DIR

SECTION_MODULES: tuple[str, ...] = ("bench.scan", "bench.hub")
ALL = "all"


class Section(Protocol):
    NAME: str
    SUMMARY: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, options: argparse.Namespace) -> int: ...


def shared_options() -> argparse.ArgumentParser:
    """Options every section understands; a section reads what applies to it."""
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--records", type=_positive, help="size of the workload (default: each section's own)"
    )
    shared.add_argument("--seed", type=int, default=1, help="seed of generated inputs (1)")
    shared.add_argument("--quick", action="store_true", help="a small workload, for a fast check")
    shared.add_argument(
        "--repeat", type=_positive, help="runs per measurement, the best is kept (3; quick 1)"
    )
    shared.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help="where generated inputs are kept between runs (bench/.corpus)",
    )
    return shared


def load_sections() -> list[Section]:
    return [cast(Section, importlib.import_module(name)) for name in SECTION_MODULES]


def build_parser(
    sections: Sequence[Section],
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of rootwatch; exit 1 when a goal fails, 2 when a tool fails.",
    )
    shared = shared_options()
    commands = parser.add_subparsers(dest="section", metavar="SECTION")
    commands.add_parser(ALL, parents=[shared], help="every section below (the default)")
    section_parsers = {}
    for section in sections:
        section_parser = commands.add_parser(section.NAME, parents=[shared], help=section.SUMMARY)
        section.add_arguments(section_parser)
        section_parsers[section.NAME] = section_parser
    return parser, section_parsers


def main(argv: Sequence[str] | None = None) -> int:
    sections = load_sections()
    parser, section_parsers = build_parser(sections)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or (arguments[0].startswith("-") and arguments[0] not in ("-h", "--help")):
        arguments.insert(0, ALL)
    options = parser.parse_args(arguments)
    if options.section != ALL:
        chosen = next(section for section in sections if options.section == section.NAME)
        return chosen.run(options)
    worst = 0
    for section in sections:
        print(f"== {section.NAME}: {section.SUMMARY}", flush=True)
        # The section's own defaults, with the shared options given to `all`.
        section_options = section_parsers[section.NAME].parse_args([])
        for name, value in vars(options).items():
            setattr(section_options, name, value)
        section_options.section = section.NAME
        worst = max(worst, section.run(section_options))
    return worst


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


if __name__ == "__main__":
    sys.exit(main())
