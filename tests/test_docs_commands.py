"""Every `gaunet ...` command in README.md and docs/ names options and commands that exist: a
renamed or removed flag left in the documents fails here, not in a user's shell. Placeholders
(RUN, N, $s) and missing values are fine; an unknown option or command is not."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from gaunet.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# the parser's words for a name that does not exist (not for a placeholder or a missing value)
UNKNOWN = ("unrecognized arguments", "invalid choice")


def documented_commands(text: str) -> list[str]:
    """The `gaunet ...` commands of fenced blocks (continuation lines joined) and inline code,
    cut at a shell operator or comment; an error message quoted (`gaunet X: error`) or a placeholder command is none."""
    commands = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            found = re.search(r"(?:^|&&|;|\$)\s*(gaunet\s.*)$", line.strip())
            if found:
                commands.append(found.group(1))
    commands += re.findall(r"`(gaunet [^`]+)`", text)
    cut = re.compile(r"\s(?:#|\||&&|&|>|;|\[|\.\.\.|\(|…).*$")
    quoted = re.compile(r"gaunet (?:[\w ]*:|[A-Z])")  # an error message, `gaunet COMMAND`
    return [cut.sub("", c).strip() for c in commands if not quoted.match(c)]


def unknown_names(command: str) -> str:
    """The parser's complaint about a name in `command` that does not exist, or ""."""
    try:
        argv = shlex.split(command)[1:]
    except ValueError:  # a quote the cut above left open: not a whole command
        return ""
    error = io.StringIO()
    with contextlib.redirect_stderr(error), contextlib.redirect_stdout(io.StringIO()):
        try:
            _strict(build_parser()).parse_args(argv)
        except SystemExit:
            pass
    said = error.getvalue().strip().splitlines()
    return said[-1] if said and any(word in said[-1] for word in UNKNOWN) else ""


def _strict(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`parser` and its sub-parsers taking whole option names only: argparse takes `--arm` for
    `--arms`, and a later option `--arm-...` would make the documented command ambiguous."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _strict(sub)
    return parser


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_documented_command_names_existing_options(document: Path) -> None:
    commands = documented_commands(document.read_text())
    wrong = {c: unknown_names(c) for c in commands if unknown_names(c)}
    assert not wrong, f"{document.name}: " + "; ".join(f"`{c}`: {e}" for c, e in wrong.items())


def test_the_documents_hold_commands_to_check() -> None:
    assert sum(len(documented_commands(d.read_text())) for d in DOCUMENTS) > 300


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("gaunet train --data phantom --out r --batchsize 4", "--batchsize"),
        ("gaunet trian --data phantom --out r", "trian"),
        ("gaunet benchmark --data d --out o --arm none", "--arm"),  # --arms, abbreviated
    ],
)
def test_the_check_finds_an_unknown_name(command: str, named: str) -> None:
    assert named in unknown_names(command)


@pytest.mark.parametrize(
    "command",
    [
        "gaunet train --data SOURCE --out RUN --steps N",
        "gaunet generate --per-class",
        "gaunet benchmark --subset-seed $s",
    ],  # fmt: skip
)
def test_placeholders_and_missing_values_are_not_unknown_names(command: str) -> None:
    assert unknown_names(command) == ""
