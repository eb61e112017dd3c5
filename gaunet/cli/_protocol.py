"""`gaunet benchmark --protocol NAME_OR_FILE`: a YAML file of benchmark options read as the
parser's defaults before the real parse (timm's --config), so an option given on the command
line always wins. Built-in protocols are gaunet/configs/protocols/NAME.yaml."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gaunet.errors import GaunetError

# built-in protocols: NAME.yaml, option defaults for `--protocol NAME` (e.g. the paper's Table III)
PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "configs" / "protocols"
NOT_IN_PROTOCOL = ("help", "data", "out", "protocol")  # data and out: the command line's


def protocol_file(name: str) -> Path:
    """`--protocol NAME_OR_FILE` -> its YAML file: a path (a .yaml/.yml name or one with a
    folder) or a built-in name; anything else is an error listing the built-in ones."""
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
        if not path.is_file():
            raise GaunetError(f"--protocol {name}: no such file")
        return path
    if (PROTOCOL_DIR / f"{name}.yaml").is_file():
        return PROTOCOL_DIR / f"{name}.yaml"
    if path.is_file():
        return path
    known = ", ".join(sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml")))
    raise GaunetError(f"--protocol {name!r}: no such protocol (built-in: {known}) or YAML file")


def load_protocol(name: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """A protocol's values as {dest: value}, each typed and checked as its option would be,
    so that a bad key or value is named with its file before any work starts."""
    from gaunet.config import read_yaml_mapping

    path = protocol_file(name)
    content = read_yaml_mapping(path, "the protocol", "a protocol is a mapping of option: value")
    options = [a for a in parser._actions if a.option_strings and a.dest not in NOT_IN_PROTOCOL]
    actions = {action.dest: action for action in options}
    values = {}
    for key, value in content.items():
        dest = str(key).replace("-", "_")
        if dest in ("data", "out"):
            raise GaunetError(f"{path}: {key!r} is not a protocol key: give --{dest} instead")
        if dest not in actions:
            known = ", ".join(sorted(actions))
            raise GaunetError(f"{path}: unknown key {key!r} (benchmark options: {known})")
        values[dest] = _option_value(actions[dest], value, f"{path}: {key}")
    return values


def _option_value(action: argparse.Action, value: Any, where: str) -> Any:
    """A YAML value as the option's parsed value: a list joins into the comma text the list
    options take, a number or text goes through the option's type, choices are enforced."""
    if action.nargs == 0:  # a flag such as --quiet
        if not isinstance(value, bool):
            raise GaunetError(f"{where}: {value!r} is not true or false")
        return value
    if value is None or isinstance(value, dict):
        if value is None and action.default is None:
            return None
        raise GaunetError(f"{where}: {value!r} is not a value of --{action.dest}")
    text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    try:
        parsed = action.type(text) if callable(action.type) else text
    except (TypeError, ValueError):
        kind = getattr(action.type, "__name__", "value")
        raise GaunetError(f"{where}: {value!r} is not a valid {kind}") from None
    if action.choices is not None and parsed not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise GaunetError(f"{where}: {value!r} is not one of {choices}")
    return parsed


def with_protocol(parser: argparse.ArgumentParser, parse: Callable) -> Callable:
    """The benchmark parser's `parse_known_args`, with `--protocol`'s values set as defaults
    before the real parse (timm's --config): every option given on the command line wins. A
    protocol that fails to load leaves `protocol_error`, which run() raises (one line, exit 2)."""

    def parse_known_args(args: Any = None, namespace: Any = None) -> Any:
        first = argparse.ArgumentParser(add_help=False, exit_on_error=False)
        first.add_argument("--protocol")
        try:
            name = first.parse_known_args(sys.argv[1:] if args is None else args)[0].protocol
        except argparse.ArgumentError:  # e.g. --protocol without a value: the parser says so
            name = None
        if not name:
            return parse(args, namespace)
        try:
            values = load_protocol(name, parser)
        except GaunetError as error:
            values = {"protocol_error": str(error)}
        before = {dest: parser.get_default(dest) for dest in values}
        parser.set_defaults(**values)
        try:
            parsed = parse(args, namespace)
        finally:  # the parser is left as it was: a later parse without --protocol is plain
            parser.set_defaults(**before)
        parsed[0].protocol_changes = changed_options(parser, values, parsed[0])
        return parsed

    return parse_known_args


def changed_options(
    parser: argparse.ArgumentParser, values: dict[str, Any], args: argparse.Namespace
) -> list[str]:
    """The protocol's values the command line changed, as `--option VALUE (protocol: VALUE)`:
    recorded with the results, so that "the paper's protocol" says where it was not followed."""
    flags = {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings}
    return [
        f"{flags[dest]} {getattr(args, dest)} (protocol: {'none' if value is None else value})"
        for dest, value in values.items()
        if dest in flags and not _same(getattr(args, dest), value)
    ]


def _same(given: Any, value: Any) -> bool:
    """Equal, or the same comma list as the command reads it (`--arms "none, gaunet"`) or of
    the same numbers (`--fractions 1` is the protocol's `1.0`): no change of the protocol."""
    from gaunet.cli import comma_list

    if given == value:
        return True
    if not (isinstance(given, str) and isinstance(value, str)):
        return False
    if comma_list(given) == comma_list(value):
        return True
    try:
        return [float(x) for x in comma_list(given)] == [float(x) for x in comma_list(value)]
    except ValueError:
        return False
