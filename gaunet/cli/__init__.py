"""The `gaunet` command. Each subcommand lives in its own module of this package.

A module here that defines `register(subparsers)` (and an integer `ORDER` for --help) becomes a
subcommand; `register` adds its parser and sets `func` to a function taking the parsed args and
returning an exit code. Heavy imports (torch, models) happen inside those functions so that
`gaunet --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from gaunet.errors import GaunetError


def comma_list(text: str) -> list[str]:
    """Every list-valued option is read this way: "a, b,,c" gives ["a", "b", "c"]."""
    return [item.strip() for item in text.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gaunet",
        description=(
            "Turn a small labelled medical-image dataset into more labelled images with a "
            "generative adversarial U-Net, and measure whether they help."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GaunetError as error:
        print(f"gaunet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gaunet {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `gaunet ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
