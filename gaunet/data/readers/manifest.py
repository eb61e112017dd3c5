"""CSV manifests: `path,label[,patient_id][,split][,class][,slice]`, paths relative to the CSV.

Labels: when every label is an integer they are class indices (names from a `class` column
when present, else "0", "1", ...), so the order of a generated or prepared dataset is kept;
otherwise the class names are the sorted unique labels. `patient_id` (or `group`) is the
unit a split never cuts; without it a DICOM file's PatientID, then the file, is the group.
`split` (train/val/test, in any case; also training, valid, validation, testing) is an
official split (an all-empty column is ignored). `slice` picks one axial slice of a NIfTI row
(a file listed whole and by slice, or one slice twice, is used once). A path written on
Windows (`sub\\img.png`) is found too. A row with more fields than the header (an unquoted
comma) is a problem naming its line.
Fields are separated by `,`, or by `;` or a tab when the header is (Excel's other "CSV"s).
A folder holding `manifest.csv` is read through it; files under that folder that the manifest
does not list are reported as having no label.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from gaunet.data.imageset import SPLITS, Problem
from gaunet.data.readers.decode import file_kind
from gaunet.data.readers.folder import files_under
from gaunet.data.readers.items import Item, SourceError, safe_text

GROUP_COLUMNS = ("patient_id", "group")
SPLIT_NAMES = {  # what split columns say, in any case -> gaunet's split names
    **{name: name for name in SPLITS},
    "training": "train", "valid": "val", "validation": "val", "testing": "test",
}  # fmt: skip
EXTRA = "\0extra"  # a row's key for the fields beyond the header (csv.DictReader's None key)


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]], list[int]]:
    """Columns, rows (stripped; `EXTRA` holds how many fields a row has beyond the header) and
    each row's line in the file (blank lines and quoted line breaks counted)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=_delimiter(handle))
            rows, lines = [], []
            for row in reader:
                values = [v for k, v in row.items() if k is not None] + (row.get(None) or [])
                if any((v or "").strip() for v in values):  # `,,` (Excel's once-used rows):
                    rows.append(row)  # a blank line, not a row with no path
                    lines.append(reader.line_num)
            columns = [c.strip() for c in reader.fieldnames or []]
    except UnicodeDecodeError as error:  # Excel's "CSV" (cp1252) or "Unicode text" (UTF-16)
        raise SourceError(
            f"{path}: cannot read the manifest: not UTF-8 text (it holds byte "
            f"0x{error.object[error.start]:02x}); save it as UTF-8 (Excel: 'CSV UTF-8')"
        ) from error
    except (OSError, csv.Error) as error:
        raise SourceError(f"{path}: cannot read the manifest ({error})") from error
    rows = [
        {
            **{k.strip(): (v or "").strip() for k, v in row.items() if k is not None},
            **({EXTRA: str(len(row[None]))} if None in row else {}),
        }
        for row in rows
    ]
    read = {"path", "label", "class", "split", "slice", *GROUP_COLUMNS}  # others are ignored
    twice = sorted({c for c in columns if columns.count(c) > 1 and c in read})
    if twice:  # csv keeps the last of them: the first column of that name was read as nothing
        raise SourceError(
            f"{path}: manifest names column(s) {', '.join(twice)} twice; which one holds the "
            "values cannot be told: rename or remove one"
        )
    missing = [c for c in ("path", "label") if c not in columns]
    if missing:
        raise SourceError(
            f"{path}: manifest lacks column(s) {', '.join(missing)} "
            f"(has: {', '.join(columns) or 'none'}; needs path,label[,patient_id][,split])"
        )
    if not rows:
        raise SourceError(f"{path}: manifest has no rows")
    return columns, rows, lines


def _delimiter(handle) -> str:
    """`,`; else `;` or tab where only that splits the header into path and label (Excel
    writes `;` where the decimal mark is a comma, and tabs as "Text (Tab delimited)")."""
    header = handle.readline()
    handle.seek(0)
    for delimiter in (",", ";", "\t"):
        names = {c.strip() for c in next(csv.reader([header], delimiter=delimiter), [])}
        if {"path", "label"} <= names:
            return delimiter
    return ","


MAX_CLASS_INDEX = 10_000


def _class_names(rows: list[dict[str, str]], has_class: bool) -> tuple[list[str], dict[str, str]]:
    """Class names and label -> class name, following the module docstring's rules."""
    labels = [r["label"] for r in rows if r["label"]]
    # ASCII digits only: "²" and "--1" passed str.isdigit and then failed int() in a traceback
    if labels and all(re.fullmatch(r"-?[0-9]+", label) for label in labels):
        values = sorted({int(label) for label in labels})
        if values[0] < 0:
            raise SourceError(f"integer labels must be >= 0, found {values[0]}")
        if values[-1] >= MAX_CLASS_INDEX:  # one name per index up to it: memory, not classes
            raise SourceError(
                f"integer label {values[-1]}: labels are class indices (0, 1, 2, ...), at most "
                f"{MAX_CLASS_INDEX - 1}; write class names instead"
            )
        names = [str(i) for i in range(values[-1] + 1)]
        if has_class:
            named: dict[int, str] = {}
            for row in rows:
                if row["label"] and row.get("class"):
                    index = int(row["label"])
                    if named.setdefault(index, row["class"]) != row["class"]:
                        raise SourceError(
                            f"label {index} is named both {named[index]!r} and {row['class']!r} "
                            "in the class column"
                        )
                    names[index] = row["class"]
        return names, {label: names[int(label)] for label in set(labels)}
    names = sorted(set(labels))
    return names, {label: label for label in names}


def is_generated(path: Path) -> bool:
    """A manifest `gaunet generate` wrote (its paths are `class/000123.png`, never a patient's
    file name, so its ids stay readable)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = {c.strip() for c in next(csv.reader(handle), [])}
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return {"source_id", "checkpoint_sha256"} <= header


def scan_manifest(path: Path) -> tuple[list[Item], list[str], list[Problem]]:
    """Items from a manifest CSV; rows that cannot be used become problems."""
    columns, rows, lines = _read_rows(path)
    try:
        names, label_to_class = _class_names(rows, "class" in columns)
    except SourceError as error:
        raise SourceError(f"{path}: {error}") from error
    reader = _RowReader(
        path=path,
        root_text=os.path.normpath(os.path.abspath(path.parent)),
        group_column=next((c for c in GROUP_COLUMNS if c in columns), None),
        label_to_class=label_to_class,
        has_split=any(row.get("split") for row in rows),  # an all-empty column means no split
    )
    problems: list[Problem] = []
    items: list[Item] = []
    for line, row in zip(lines, rows, strict=True):
        result = reader.item(row, f"{path}:{line}", len(columns))
        (problems if isinstance(result, Problem) else items).append(result)
    if path.name == "manifest.csv":
        problems += _unlisted_files(path, items, problems)
    return items, names, problems


@dataclass
class _RowReader:
    """Turns one manifest row into an Item, or a Problem saying why the row is not used."""

    path: Path
    root_text: str
    group_column: str | None
    label_to_class: dict[str, str]
    has_split: bool
    seen: dict[str, set[int | None]] = field(default_factory=dict)  # file -> slices listed

    def item(self, row: dict[str, str], where: str, columns: int) -> Item | Problem:
        relative = row["path"]
        if EXTRA in row:  # its path resolved as every row's (_unlisted_files compares them)
            fields = columns + int(row[EXTRA])
            return Problem(
                safe_text(os.path.normpath(os.path.join(self.root_text, relative)))
                if relative
                else where,
                f"{fields} fields where the header has {columns} (an unquoted comma in a path "
                f"or label? quote such a field) ({where})",
            )
        if not relative:
            return Problem(where, "row has no path")
        full = os.path.normpath(os.path.join(self.root_text, relative))
        if not os.path.isfile(full) and "\\" in relative and os.sep == "/":
            windows = os.path.normpath(os.path.join(self.root_text, relative.replace("\\", "/")))
            full = windows if os.path.isfile(windows) else full  # a path written on Windows
        shown = safe_text(full)
        if os.path.commonpath([self.root_text, full]) != self.root_text:
            return Problem(
                shown, f"path outside the manifest's folder {self.path.parent} ({where})"
            )
        if not row["label"]:
            return Problem(shown, f"label missing from the manifest ({where})")
        if not os.path.isfile(full):
            what = "a folder, not a file" if os.path.isdir(full) else "file not found"
            return Problem(shown, f"{what} ({where})")
        written = row.get("split") or None
        split = SPLIT_NAMES.get(written.lower()) if written else None
        if self.has_split and split is None:
            reason = f"split {written!r} is not one of train/val/test ({where})"
            return Problem(shown, reason if written else f"split missing ({where})")
        slice_text = row.get("slice", "")
        if slice_text and not re.fullmatch(r"[0-9]+", slice_text):
            return Problem(shown, f"slice {slice_text!r} is not an integer ({where})")
        slice_index = int(slice_text) if slice_text else None
        listed = self.seen.setdefault(full, set())
        if slice_index in listed or None in listed or (slice_index is None and listed):
            what = "listed twice" if slice_index in listed else "listed whole and by slice"
            return Problem(shown, f"{what}; the first row is used ({where})")
        listed.add(slice_index)
        group = self.group_column
        return Item(
            path=Path(full),
            item_id=safe_text(Path(os.path.relpath(full, self.root_text)).as_posix()),
            class_name=self.label_to_class[row["label"]],
            group=(row.get(group) or None) if group else None,
            split=split,
            slice_index=slice_index,
        )


def _unlisted_files(path: Path, items: list[Item], problems: list[Problem]) -> list[Problem]:
    """A problem per readable file under the manifest's folder that no row lists. Paths are
    compared absolute: rows resolve against the folder's absolute path, while the folder may
    have been given relative (`gaunet evaluate --synthetic runs/x`)."""

    def absolute(text: str) -> str:
        return os.path.normpath(os.path.abspath(text))

    listed = {absolute(str(item.path)) for item in items}
    listed |= {absolute(p.path) for p in problems}
    unlisted = []
    for candidate in files_under(path.parent):
        text = os.path.normpath(str(candidate))
        if absolute(text) not in listed and file_kind(candidate) is not None:
            unlisted.append(Problem(safe_text(text), f"not in {path.name}: no label"))
    return unlisted
