"""The help layout shared by every subcommand: each option's default is shown in `--help`.

`GaunetParser` is the parser class of every subcommand (and of their own subcommands, which
argparse creates with the same class). Its formatter appends "(default: X)" to an option's help
unless the help already states its default in words, or the default is None / False (an
option that is off or taken from elsewhere says so in its help).
"""

from __future__ import annotations

import argparse


class DefaultsFormatter(argparse.HelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if not action.option_strings or "default" in text.lower():
            return text
        if default is None or default is False or default is argparse.SUPPRESS:
            return text
        if isinstance(default, list | tuple) and not default:
            return text
        return f"{text} (default: %(default)s)".strip()


class GaunetParser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)
