"""The explicit JudgeResult → judgments row mapping drops no field: a field added to the
dataclass without a column (or without a line in `to_row`) fails here."""

from __future__ import annotations

from dataclasses import fields

from signalops_assets.judging.judges import JudgeResult
from signalops_assets.judging.store import to_row


def test_every_field_reaches_its_column() -> None:
    values: dict[str, object] = {}
    for i, f in enumerate(fields(JudgeResult)):
        kind = str(f.type)
        if "bool" in kind:
            values[f.name] = False  # the default is True: a dropped field would show
        elif "float" in kind:
            values[f.name] = float(i) + 0.5
        elif "int" in kind:
            values[f.name] = i + 1
        else:
            values[f.name] = f"v{i}"
    result = JudgeResult(**values)  # type: ignore[arg-type]
    row = to_row(result, "spectra", attempt=3)
    assert {name: getattr(row, name) for name in values} == values
    assert (row.project_id, row.attempt) == ("spectra", 3)
