"""`gaunet benchmark --protocol`: a YAML file of option defaults under the command line (issue
29, item 4). The built-in `paper` protocol is the paper's Table III for one dataset; an option
given explicitly wins over it; a bad protocol is one line naming its file and key, before any
work; the protocol used is recorded in benchmark.json and named in summary.md."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from downstream_helpers import one_quiet_thread

from gaunet.cli import build_parser, main
from gaunet.cli._protocol import PROTOCOL_DIR, load_protocol
from gaunet.errors import GaunetError

BUSI = Path(__file__).parents[1].parent / "shared" / "data" / "busi"
PAPER_CLASSIFIERS = ["resnet18", "resnet50", "densenet161", "svm"]
PAPER_ARMS = ["none", "gaunet", "copies"]
# the smallest grid the other benchmark tests use, for the networks and the generator arm
TINY = ["--size", "16", "--channels", "3", "--width", "0.125", "--epochs", "1", "--seeds", "2"]
TINY += ["--gen-config", "cpu-tiny", "--gen-steps", "2", "--device", "cpu", "--quiet"]


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _parse(*extra: str) -> dict:
    args = build_parser().parse_args(["benchmark", "--data", "phantom", "--out", "b", *extra])
    return vars(args)


def _benchmark_parser() -> object:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return subparsers.choices["benchmark"]


@pytest.mark.parametrize(
    ("dest", "expected"),
    [
        ("classifiers", ",".join(PAPER_CLASSIFIERS)),
        ("arms", ",".join(PAPER_ARMS)),
        ("size", 256),
        ("channels", 3),
        ("fractions", "1.0"),
        ("seeds", 10),
        ("gen_config", "paper"),
        ("gen_steps", None),  # the preset's own budget
        ("lr", 1e-3),
        ("epochs", 100),
        ("patience", 20),
        ("batch_size", 32),
        ("synthetic_ratio", 1.0),
        ("select", "loss"),  # not in the protocol: the command's default
        ("device", "auto"),
        ("protocol", "paper"),
    ],
)
def test_the_paper_protocol_sets_table_iii(dest: str, expected: object) -> None:
    assert _parse("--protocol", "paper")[dest] == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["--protocol", "paper", "--seeds", "2", "--size", "32"],
        ["--seeds", "2", "--size", "32", "--protocol", "paper"],  # before it, too
        ["--seeds=2", "--protocol=paper", "--size=32"],
        ["--seeds", "2", "--proto", "paper", "--size", "32"],  # an abbreviation, as argparse's
    ],
)
def test_an_explicit_option_beats_the_protocol(argv: list[str]) -> None:
    args = _parse(*argv)
    assert (args["seeds"], args["size"]) == (2, 32)
    assert (args["channels"], args["gen_config"]) == (3, "paper")  # the rest: the protocol's


def test_an_option_given_at_its_plain_default_still_wins() -> None:
    """--seeds 5 is the command's own default, and still beats the protocol's 10."""
    assert _parse("--protocol", "paper", "--seeds", "5")["seeds"] == 5


def test_a_parse_without_protocol_keeps_the_commands_defaults() -> None:
    parser = build_parser()
    base = ["benchmark", "--data", "phantom", "--out", "b"]
    assert parser.parse_args([*base, "--protocol", "paper"]).size == 256
    plain = parser.parse_args(base)  # the same parser: the protocol left no defaults behind
    assert (plain.size, plain.seeds, plain.classifiers, plain.protocol) == (
        28,
        5,
        "resnet18,svm",
        None,
    )


def test_every_built_in_protocol_loads() -> None:
    names = sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))
    assert "paper" in names
    for name in names:
        assert load_protocol(name, _benchmark_parser())


def test_the_protocols_are_package_data() -> None:
    """A wheel ships gaunet/configs/protocols/*.yaml (pyproject's package-data)."""
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"configs/protocols/*.yaml"' in text


def test_a_users_protocol_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "classifiers: [resnet18, svm]  # a list works too\n"
        "gen-steps: 300                # dashes as on the command line\n"
        "select: auc\nquiet: true\nfractions: [0.25, 1.0]\n"
    )
    args = _parse("--protocol", str(path), "--select", "loss")
    assert args["classifiers"] == "resnet18,svm" and args["gen_steps"] == 300
    assert args["fractions"] == "0.25,1.0" and args["quiet"] is True
    assert args["select"] == "loss"  # the command line wins
    assert args["seeds"] == 5  # not in the file: the command's default


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("seeds: 3\nsplit_ratio: 0.7\n", "unknown key 'split_ratio'"),
        ("data: ../shared/data/busi\n", "'data' is not a protocol key"),
        ("seeds: ten\n", "seeds: 'ten' is not a valid int"),
        ("select: best\n", "select: 'best' is not one of loss, auc"),
        ("quiet: 1\n", "quiet: 1 is not true or false"),
        ("size: null\n", "size: None is not a value of --size"),
        ("- seeds\n", "a protocol is a mapping"),
        ("seeds: [1\n", "cannot read the protocol"),
    ],
)
def test_a_bad_protocol_names_its_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: str, named: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(GaunetError, match="bad.yaml") as error:
        load_protocol(str(path), _benchmark_parser())
    assert named in str(error.value)
    out = tmp_path / "never"
    assert main(["benchmark", "--data", "phantom", "--out", str(out), "--protocol", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gaunet benchmark: error: ") and "\n" not in err
    assert str(path) in err and named in err
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("papr", "--protocol 'papr': no such protocol (built-in: paper) or YAML file"),
        ("missing.yaml", "--protocol missing.yaml: no such file"),
        ("nowhere/paper", "--protocol nowhere/paper: no such file"),
    ],
)
def test_an_unknown_protocol_is_one_line_listing_the_built_in_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str, said: str
) -> None:
    out = tmp_path / "never"
    assert main(["benchmark", "--data", "phantom", "--out", str(out), "--protocol", name]) == 2
    assert capsys.readouterr().err.strip() == f"gaunet benchmark: error: {said}"
    assert not out.exists()


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_paper_protocol_end_to_end_on_the_phantom(tmp_path: Path) -> None:
    """The real CLI, with the paper's grid shrunk by explicit options: every classifier x arm
    of the protocol in results.csv, Table III's W/O and W rows, the protocol recorded."""
    out = tmp_path / "t3"
    argv = ["benchmark", "--protocol", "paper", "--data", "phantom:n=24", "--out", str(out)]
    assert main([*argv, *TINY]) == 0
    rows = _rows(out / "results.csv")
    cells = {(r["classifier"], r["arm"]) for r in rows}
    assert cells == {(c, a) for c in PAPER_CLASSIFIERS for a in PAPER_ARMS}
    assert {r["seed"] for r in rows} == {"0", "1"} and {float(r["fraction"]) for r in rows} == {1.0}
    summary = (out / "summary.md").read_text()
    for classifier in PAPER_CLASSIFIERS:
        assert f"| {classifier} | 1 | none | W/O |" in summary
        assert f"| {classifier} | 1 | gaunet | W |" in summary
        assert f"| {classifier} | 1 | copies | W |" in summary
    assert "Protocol: `paper`; changed on the command line: " in summary
    record = json.loads((out / "benchmark.json").read_text())
    assert record["protocol"] == "paper" and record["gen_config"] == "cpu-tiny"
    # what the command line changed is said beside the results, in the protocol file's order
    changes = record["protocol_changes"]
    assert changes[:3] == ["--size 16 (protocol: 256)", "--seeds 2 (protocol: 10)",
                           "--epochs 1 (protocol: 100)"]  # fmt: skip
    assert "--gen-steps 2 (protocol: none)" in changes and "--channels" not in str(changes)
    assert "; ".join(changes) in summary
    assert record["fit"]["patience"] == 20 and record["fit"]["lr"] == 1e-3  # the protocol's


def test_an_older_folder_without_the_protocol_key_continues(tmp_path: Path) -> None:
    """`protocol` is recorded for information, not pinned: a folder written before it was
    recorded (no key) continues, and one run without a protocol names none in its summary."""
    out = tmp_path / "b"
    argv = ["benchmark", "--data", "phantom:n=24", "--out", str(out), "--classifiers", "svm"]
    argv += ["--arms", "none", "--size", "16", "--channels", "1", "--quiet", "--protocol", "paper"]
    assert main([*argv, "--seeds", "1"]) == 0
    record = json.loads((out / "benchmark.json").read_text())
    del record["protocol"]  # as benchmark.json was written before this version
    (out / "benchmark.json").write_text(json.dumps(record))
    assert main([*argv, "--seeds", "2"]) == 0
    assert json.loads((out / "benchmark.json").read_text())["protocol"] == "paper"
    assert len({r["seed"] for r in _rows(out / "results.csv")}) == 2
    plain = tmp_path / "plain"
    assert main([*argv[:-2], "--out", str(plain), "--seeds", "1", "--epochs", "1"]) == 0
    assert "Protocol:" not in (plain / "summary.md").read_text()
    assert json.loads((plain / "benchmark.json").read_text())["protocol"] == ""


def test_the_paper_protocol_on_real_busi(tmp_path: Path) -> None:
    """BUSI from ../shared/data with the paper's split: 780 images, each its own group (no
    patient ids), stratified 7:1:2 = 546 / 78 / 156. The SVM only, 16 px: a few seconds."""
    if not BUSI.is_dir():
        pytest.skip(f"real data {BUSI} is absent (only the repository is here)")
    out = tmp_path / "busi"
    argv = ["benchmark", "--protocol", "paper", "--data", str(BUSI), "--out", str(out)]
    argv += ["--size", "16", "--classifiers", "svm", "--arms", "none,copies", "--seeds", "1"]
    assert main([*argv, "--quiet", "--device", "cpu"]) == 0
    split = _rows(out / "split.csv")
    counts = {name: sum(r["split"] == name for r in split) for name in ("train", "val", "test")}
    assert counts == {"train": 546, "val": 78, "test": 156}
    assert len({r["group"] for r in split}) == 780
    summary = (out / "summary.md").read_text()
    assert "| svm | 1 | none | W/O |" in summary and "| svm | 1 | copies | W |" in summary


def test_help_with_a_protocol_shows_its_values_as_the_defaults(
    capsys: pytest.CaptureFixture,
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["benchmark", "--protocol", "paper", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--seeds SEEDS classifier seeds 0..N-1 (default: 10)" in text
    assert "(default: 256)" in text and "--protocol NAME_OR_FILE" in text


def test_a_summary_names_no_changes_or_says_it_did_not_record_them() -> None:
    from gaunet.downstream.report import summary_markdown

    settings = {"data": "phantom", "size": 16, "seeds": 2, "protocol": "paper"}
    older = summary_markdown([], settings)  # benchmark.json of a version before the record
    assert "Protocol: `paper` (options on the command line override its values)." in older
    followed = summary_markdown([], {**settings, "protocol_changes": []})
    assert "Protocol: `paper`; changed on the command line: none." in followed
    assert "Protocol" not in summary_markdown([], {**settings, "protocol": ""})


def test_the_same_value_written_otherwise_is_no_change() -> None:
    args = build_parser().parse_args(
        ["benchmark", "--data", "p", "--out", "o", "--protocol", "paper", "--fractions", "1",
         "--lr", "1e-3", "--classifiers", "resnet18,resnet50,densenet161,svm", "--seeds", "3"]
    )  # fmt: skip
    assert args.protocol_changes == ["--seeds 3 (protocol: 10)"]
