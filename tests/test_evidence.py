"""One source for measured evidence (issue 31): the numbers gaunet's output quotes come from
gaunet/evidence.yaml, which benchmarks/write_evidence.py writes from docs/results; the file
must match those JSON files, the advice must quote it, and no measured gain may be written as
a literal anywhere else in gaunet/."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from gaunet import evidence
from gaunet.downstream import advice

ROOT = Path(__file__).resolve().parents[1]


def _writer():
    spec = importlib.util.spec_from_file_location(
        "write_evidence", ROOT / "benchmarks" / "write_evidence.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_evidence_file_matches_docs_results():
    writer = _writer()
    assert evidence.EVIDENCE.read_text() == writer.render(writer.build()), (
        "gaunet/evidence.yaml is out of date: run benchmarks/write_evidence.py"
    )


@pytest.mark.parametrize("key", list(evidence.evidence()))
def test_each_number_names_its_source_and_command(key):
    record = evidence.evidence()[key]
    assert (ROOT / record["source"]).is_file()
    assert record["command"].startswith("gaunet ") and record["what"]


def _entries(select: str = "last") -> tuple[list[dict], dict]:
    """A generator arm that did not help, no ceiling arm, no copies control."""
    gain = {"accuracy": {"mean": 0.0, "half": 0.02, "p": 0.9, "n": 10}}
    entries = [
        {"classifier": "resnet18", "fraction": 0.25, "arm": arm, "gain": gain, "metrics": {}}
        for arm in ("gaunet", "gaunet+classic")
    ]
    entries[1]["gain_vs_classic"] = gain
    return entries, {"subset_seed": 0, "select_snapshot": select, "gen_init_from": ""}


def test_the_advice_quotes_the_evidence_file():
    entries, settings = _entries()
    text = "\n".join(
        advice.next_steps(entries, settings) + advice.one_generator_note(entries, settings)
    )
    quoted = [
        evidence.gain("fdval_vs_last_combined", "accuracy"),
        evidence.gain("fdval_vs_last_combined", "auc"),
        evidence.gain("transfer_alone", "auc"),
        evidence.gain("pneumoniamnist_ceiling", "auc"),
        evidence.spread(),
        evidence.subsets("fdval_vs_last_combined"),
        evidence.gain("paper_budget_combined_vs_copies", "accuracy"),
        evidence.gain("paper_budget_combined_vs_copies", "auc"),
        evidence.gain("paper_budget_alone_vs_copies", "accuracy"),
        evidence.subsets("paper_budget_combined_vs_copies"),
        evidence.gain("paper_budget_filter_alone_vs_copies", "accuracy"),
        evidence.gain("paper_budget_filter_combined_vs_copies", "accuracy"),
        evidence.subsets("paper_budget_filter_alone_vs_copies"),
        evidence.gain("paper_budget_filter_alone_vs_typical", "accuracy"),
    ]
    for number in quoted:
        assert number in text, number
    copies = advice.copies_evidence()
    assert evidence.gain("copies_combined_vs_classic", "accuracy") in copies


def test_a_changed_number_changes_the_advice(monkeypatch):
    """The text follows the file: a rerun that changes a number changes it everywhere."""
    changed = {key: dict(value) for key, value in evidence.evidence().items()}
    changed["transfer_alone"] = {
        **changed["transfer_alone"],
        "auc": {**changed["transfer_alone"]["auc"], "mean": 9.9},
        "accuracy": {**changed["transfer_alone"]["accuracy"], "significant": True},
    }
    monkeypatch.setattr(evidence, "evidence", lambda: changed)
    entries, settings = _entries()
    (step,) = [s for s in advice.next_steps(entries, settings) if "--gen-init-from" in s]
    assert "+9.9 AUC points" in step and "not significant" not in step


@pytest.mark.parametrize("significant", [False, True])
def test_the_paper_budget_advice_follows_its_significance(monkeypatch, significant):
    """Whether "train longer" is advised follows the measured paper-budget gain over copies."""
    changed = {key: dict(value) for key, value in evidence.evidence().items()}
    key = "paper_budget_combined_vs_copies"
    changed[key] = {**changed[key], "auc": {**changed[key]["auc"], "significant": significant}}
    changed["paper_budget_alone_vs_copies"] = {
        **changed["paper_budget_alone_vs_copies"],
        **{
            m: {**changed["paper_budget_alone_vs_copies"][m], "significant": False}
            for m in ("accuracy", "auc")
        },
    }
    changed[key]["accuracy"] = {**changed[key]["accuracy"], "significant": False}
    monkeypatch.setattr(evidence, "evidence", lambda: changed)
    text = "\n".join(advice.next_steps(*_entries()))
    assert ("Train the generator longer" in text) is significant
    assert ("none significant" in text) is not significant
    assert "--gen-config paper" in text


@pytest.mark.parametrize(
    ("filter_pool", "arms", "advised"),
    [
        (1, ("gaunet", "gaunet+classic"), True),
        (3, ("gaunet", "gaunet+classic"), False),  # already filtered
        (1, ("gaunet+classic",), False),  # measured no gain on top of classic
    ],
)
def test_the_filter_is_advised_for_unfiltered_images_alone(filter_pool, arms, advised):
    entries, settings = _entries()
    entries = [e for e in entries if e["arm"] in arms]
    text = "\n".join(advice.next_steps(entries, {**settings, "filter_pool": filter_pool}))
    assert ("`--filter-pool 3`" in text) is advised


# a signed decimal next to a unit of gain ("+1.2 accuracy", "-2.0 AUC", "+0.9 points"), or a
# measured time ("took 5-7 s", "8 min 43 s")
MEASURED = re.compile(
    r"[+-]\d+\.\d+\s*(?:accuracy|AUC|points|pp)\b|\btook \d[\d.,-]*\s*(?:s|min|minutes|h)\b"
    r"|\d+ min \d+ s\b"
)


def _strings(path: Path) -> list[str]:
    """Every string constant of a module, f-strings' literal parts included, but not the
    docstrings of modules, classes and functions (they explain, the output quotes)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_measured_gain_is_a_literal_in_the_package():
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)!r}"
        for path in sorted((ROOT / "gaunet").rglob("*.py"))
        for text in _strings(path)
        for match in MEASURED.finditer(text)
    ]
    assert not found, "measured numbers belong in gaunet/evidence.yaml: " + "; ".join(found)


def test_the_scan_finds_a_literal():
    """The scan above can fail: a quoted gain in a string is found."""
    assert MEASURED.search("images alone add +1.9 AUC points")
    assert MEASURED.search("a ResNet-18 step took 5-7 s with 1 thread")
    assert MEASURED.search("8 min 43 s with the install")
    assert not MEASURED.search("brightness +-0.5 and contrast")
    assert not MEASURED.search("a --minutes budget of 3 min")
