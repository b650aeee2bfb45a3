"""The command line of a figure module: ``python -m <module> --profile P ... --out PDF``.

A user's mistake (a bad profile, a missing input file, inputs that do not fit together) exits
with status 2 and one line naming it, no traceback.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

from jscc_core.profiles import ProfileError

USER_ERRORS = (ProfileError, FileNotFoundError, ValueError)


def figure_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser with ``--profile`` (name or YAML path) and ``--out`` (the PDF; CSV and JSON beside it)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="profile name (mini, paper) or YAML path")
    parser.add_argument("--out", required=True, help="the PDF to write; its .csv and .json go beside it")
    return parser


def run_figure(parser: argparse.ArgumentParser, argv: list[str] | None,
               render: Callable[[argparse.Namespace], None]) -> None:
    """Parse ``argv`` and ``render(args)``; a user's mistake exits 2 with one line."""
    args = parser.parse_args(argv)
    try:
        render(args)
    except USER_ERRORS as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
