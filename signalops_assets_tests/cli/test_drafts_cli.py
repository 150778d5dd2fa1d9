"""The review CLI: exit 0 on success, exit 2 with one line and nothing changed on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft, DraftEvent, PreferencePair
from signalops_assets.db.session import session_scope
from signalops_assets.preferences.formats import validate_file
from signalops_assets_tests.cli.helpers import invoke, one_line_error
from signalops_assets_tests.preferences.review_helpers import BETTER, EDITED, make_drafts


def counts(engine: Engine) -> tuple[int, int, list[str]]:
    with session_scope(engine) as session:
        events = session.scalar(select(func.count()).select_from(DraftEvent)) or 0
        pairs = session.scalar(select(func.count()).select_from(PreferencePair)) or 0
        statuses = list(session.scalars(select(Draft.status).order_by(Draft.id)))
    return events, pairs, statuses


def test_review_commands_and_collection(engine: Engine, spectra: ProjectConfig) -> None:
    ids = [str(i) for i in make_drafts(engine, spectra, 4)]
    listing = invoke("drafts", "list", "--status", "pending", "--project", "spectra")
    # Listed by draft id; drafts finish (and get ids) in any order, ids are in post order.
    first = str(min(int(i) for i in ids))
    assert listing.exit_code == 0 and listing.output.splitlines()[2].split()[0] == first
    assert listing.output.splitlines()[0].split()[:4] == ["id", "project", "post", "status"]

    assert invoke("drafts", "approve", ids[0]).output.strip() == f"draft {ids[0]}: approved"
    edited = invoke("drafts", "edit", ids[1], "--text", EDITED)
    assert edited.exit_code == 0 and "DPO pair 1, source edit, kept" in edited.output
    rejected = invoke("drafts", "reject", ids[2], "--better-text", BETTER, "--no-collect-dpo")
    assert rejected.exit_code == 0 and "left to the collector" in rejected.output
    assert counts(engine)[:2] == (3, 1)
    plain = invoke("drafts", "reject", ids[3])
    assert "no DPO pair: no better text given" in plain.output

    shown = invoke("drafts", "show", ids[1])
    assert shown.exit_code == 0
    for part in ("status edited", "prompt (as sent):", "[system]", "<untrusted_", EDITED, "pair 1"):
        assert part in shown.output, part

    assert invoke("drafts", "list", "--status", "sent").output.strip() == "no drafts"
    listed = invoke("preferences", "list", "--no-filtered")
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 3
    assert invoke("preferences", "list", "--filtered").output.strip() == "no preference pairs"
    added = invoke("preferences", "add", "--draft", ids[0], "--chosen", BETTER)
    assert added.exit_code == 0 and "source manual, kept" in added.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["drafts", "approve", "{0}"], "is approved: cannot approve it"),
        (["drafts", "edit", "{1}", "--text", "x"], "is rejected: cannot edit it"),
        (["drafts", "edit", "{2}", "--text", "   "], "text is empty"),
        (["drafts", "edit", "{2}"], "give exactly one of --text TEXT or --editor"),
        (["drafts", "reject", "{2}", "--better-text", ""], "better text is empty"),
        (["drafts", "reject", "999999"], "draft 999999 not found"),
        (["drafts", "show", "999999"], "draft 999999 not found"),
        (["preferences", "add", "--draft", "999999", "--chosen", "x"], "not found"),
        (["preferences", "add", "--draft", "{2}", "--chosen", " "], "chosen text is empty"),
        (
            ["export", "training-data", "--type", "dpo", "--output", "argilla"],
            "Argilla not configured",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    engine: Engine, spectra: ProjectConfig, args: list[str], fragment: str
) -> None:
    ids = make_drafts(engine, spectra, 3)
    assert invoke("drafts", "approve", str(ids[0])).exit_code == 0
    assert invoke("drafts", "reject", str(ids[1])).exit_code == 0
    before = counts(engine)
    one_line_error(invoke(*[a.format(*ids) for a in args]), fragment)
    assert counts(engine) == before


def test_edit_in_the_editor(
    engine: Engine, spectra: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    (draft_id,) = make_drafts(engine, spectra, 1)
    seen: list[str | None] = []

    def fake_edit(text: str | None = None, **_: object) -> str | None:
        seen.append(text)
        return None if len(seen) == 1 else EDITED + "\n"

    monkeypatch.setattr("click.edit", fake_edit)
    one_line_error(invoke("drafts", "edit", str(draft_id), "--editor"), "without saving")
    assert invoke("drafts", "edit", str(draft_id), "--editor").exit_code == 0
    with session_scope(engine) as session:
        assert session.get_one(Draft, draft_id).text_final == EDITED
    assert seen[0] is not None and seen[0].startswith("Hi ")


def test_export_training_data(engine: Engine, spectra: ProjectConfig, tmp_path: Path) -> None:
    ids = make_drafts(engine, spectra, 2)
    invoke("drafts", "edit", str(ids[0]), "--text", EDITED)
    invoke("drafts", "reject", str(ids[1]), "--better-text", BETTER)
    for fmt in ("trl", "trl-conversational", "openai"):
        out = tmp_path / fmt
        args = ["--type", "dpo", "--format", fmt, "--project", "spectra", "--output", str(out)]
        result = invoke("export", "training-data", *args)
        assert result.exit_code == 0, result.output
        assert result.output.startswith("spectra: ") and "edit=1, reject=1" in result.output
        files = [out / "spectra" / "dpo" / f"{s}.jsonl" for s in ("train", "eval")]
        assert sum(validate_file(f, fmt).lines for f in files) == 2
        assert all(validate_file(f, fmt).ok for f in files)
        first = json.loads((files[0].read_text() or files[1].read_text()).splitlines()[0])
        assert set(first) >= ({"input"} if fmt == "openai" else {"prompt", "chosen"})
    default = invoke("export", "training-data", "--type", "dpo")
    assert default.exit_code == 0 and str(tmp_path / "exports") in default.output
