"""`voicelive` command line. Each subcommand lives in its own module under :mod:`voicelive.commands`
with ``add_parser(subparsers)`` and ``run(args) -> int``; this file only wires them together and turns
:class:`~voicelive.errors.VoiceliveError` into a one-line message and a non-zero exit code."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from voicelive import __version__
from voicelive.errors import VoiceliveError

# Order = order in `voicelive --help`.
COMMAND_MODULES = [
    "gui",
    "kiosk",
    "enroll",
    "speakers",
    "identify",
    "stream",
    "train",
    "embed",
    "bench",
    "bench_enroll",
    "bench_kiosk",
    "bench_replay",
    "eval",
    "cluster",
    "drift",
    "devices",
    "access_log",
    "setup_models",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicelive",
        description="Real-time speaker identification: who is speaking, or 'unknown'.",
    )
    parser.add_argument("--version", action="version", version=f"voicelive {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"voicelive.commands.{mod_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"voicelive.commands.{mod_name}":
                continue  # command not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.run(args) or 0)
    except VoiceliveError as exc:
        print(f"voicelive: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("voicelive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
