"""`gaunet --version` prints the package version, the one pyproject.toml declares."""

import re
from pathlib import Path

import pytest

import gaunet
from gaunet.cli import main


def test_version_flag_prints_the_package_version(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"gaunet {gaunet.__version__}"
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    declared = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
    assert gaunet.__version__ == declared
