"""The command line every stage module shares: subcommands with --profile (and --out, --data)."""
from __future__ import annotations

import argparse
from collections.abc import Callable

from jscc_core.tracking import TrackingError


def stage_cli(prog: str, doc: str | None) -> tuple[argparse.ArgumentParser, Callable[..., argparse.ArgumentParser]]:
    """(parser, add): ``add(name, fn, out=True, data=False)`` adds a subcommand running ``fn(args)``."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable, out: bool = True, data: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name)
        p.add_argument("--profile", default=None, help="profile name (mini, paper) or YAML path")
        if data:
            p.add_argument("--data", default="data", help="data root (jscc-data fetch --root)")
        if out:
            p.add_argument("--out", required=True)
        p.set_defaults(fn=fn)
        return p

    return parser, add


def run_stage(parser: argparse.ArgumentParser, argv: list[str] | None,
              user_errors: tuple[type[BaseException], ...]) -> None:
    """Parse ``argv`` and run the subcommand; a user's mistake (``user_errors``) or an unusable
    tracking store exits 2 with one line, no traceback."""
    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except (*user_errors, TrackingError) as exc:
        parser.exit(2, f"{parser.prog} {args.command}: error: {exc}\n")
