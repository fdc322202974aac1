"""The `vaesynth` command line: one parser, one module per subcommand in `vaesynth.commands`.

Every subcommand module exposes `register(subparsers)`, which adds its parser and sets `func` to a plain
function `run(args) -> int` that tests can call in-process. User mistakes raise `UserError` and are printed
as one line; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from vaesynth import __version__
from vaesynth.commands import (
    dataset,
    devices,
    encode,
    evaluate,
    render,
    report,
    resynth,
    serve,
    train,
)
from vaesynth.errors import UserError

COMMANDS = (serve, train, render, encode, resynth, evaluate, report, dataset, devices)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vaesynth",
        description="A real-time latent-space synthesizer: train a beta-VAE on sounds, play its PCA axes.",
    )
    parser.add_argument("--version", action="version", version=f"vaesynth {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        p = module.register(sub)
        # `--debug` is accepted after the subcommand too (`vaesynth train --debug ...`).
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("vaesynth: interrupted", file=sys.stderr)
        return 130
    except UserError as e:
        if args.debug:
            raise
        print(f"vaesynth {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # an unexpected failure still gets one line unless --debug
        if args.debug:
            raise
        print(
            f"vaesynth {args.command}: internal error: {type(e).__name__}: {e} "
            "(rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
