"""A manifest saved by Excel in its default encodings (cp1252 "CSV", UTF-16 "Unicode text")."""

from __future__ import annotations

import pytest
from data_helpers import make_tree, write_image

from gaunet.data import load_source
from gaunet.data.readers.items import SourceError


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_manifest_not_in_utf8_says_to_save_it_as_utf8(tmp_path, encoding, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    write_image(tmp_path / "b\u00e9nin 1.png", seed=1)
    write_image(tmp_path / "b\u00e9nin 2.png", seed=2)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label\nb\u00e9nin 1.png,b\u00e9nin\nb\u00e9nin 2.png,b\u00e9nin\n",
                   encoding=encoding)  # fmt: skip
    with pytest.raises(SourceError) as caught:
        load_source(csv, size=16)
    message = str(caught.value)
    assert str(csv) in message and "not UTF-8" in message and "save it as UTF-8" in message


@pytest.mark.parametrize("header", ["path,label,label", "path,label, path"])
def test_a_column_named_twice_is_refused(tmp_path, header) -> None:
    """csv.DictReader keeps the last of two same-named columns: `path,label,label` trained on
    whatever the second held, silently."""
    make_tree(tmp_path, {"a": 2, "b": 2})
    rows = "\n".join(f"{c}/{c} ({i}).png,{c},{c}" for c in "ab" for i in range(2))
    (tmp_path / "labels.csv").write_text(header + "\n" + rows + "\n")
    with pytest.raises(SourceError, match=r"names column\(s\) (label|path) twice"):
        load_source(tmp_path / "labels.csv", 8, 1)
