"""The `rootwatch` console script: one noun per module, each registering its own parser."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines `register(subparsers)`, which adds its noun and sets `handler`
# (a callable taking the parsed namespace and returning the exit status).
COMMAND_MODULES: tuple[str, ...] = (
    "rootwatch.cli.scan",
    "rootwatch.cli.deploy",
    "rootwatch.cli.local",
    "rootwatch.cli.events",
    "rootwatch.cli.incidents",
    "rootwatch.cli.show",
    "rootwatch.cli.spokes",
    "rootwatch.cli.accounts",
    "rootwatch.cli.expect",
    "rootwatch.cli.verify",
    "rootwatch.cli.redrive",
)


class UsageError(Exception):
    """A command line that cannot be acted on; reported with usage and exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rootwatch",
        description="Monitor and audit AWS root-user activity across many accounts.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def command_parser(
    parser: argparse.ArgumentParser, words: Sequence[str]
) -> argparse.ArgumentParser:
    """The innermost (sub)command parser the words select, so errors show its own usage."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for position, word in enumerate(words):
                chosen = action.choices.get(word)
                if chosen is not None:
                    return command_parser(chosen, words[position + 1 :])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args, unrecognized = parser.parse_known_args(words)
    selected = command_parser(parser, words)
    if unrecognized:
        selected.error(f"unrecognized arguments: {' '.join(unrecognized)}")
    try:
        status: int = args.handler(args)
    except UsageError as error:
        selected.print_usage(sys.stderr)
        print(f"{selected.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
