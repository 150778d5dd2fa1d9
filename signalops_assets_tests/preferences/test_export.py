"""DPO export: valid records in every format, split by post, filtered pairs left out, atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft
from signalops_assets.db.session import session_scope
from signalops_assets.errors import SignalOpsError
from signalops_assets.export_files import export_root
from signalops_assets.preferences import drafts as d
from signalops_assets.preferences.collector import DPOCollector, collect_pending
from signalops_assets.preferences.export import dpo_dir, export_dpo
from signalops_assets.preferences.formats import EXPORT_FORMATS, validate_file
from signalops_assets_tests.preferences.review_helpers import EDITED, make_drafts


def reviewed(engine: Engine, cfg: ProjectConfig, n: int) -> dict[str, int]:
    """n drafts, each with an edit pair and a manual pair; {prompt user message: post id}."""
    ids = make_drafts(engine, cfg, n)
    with session_scope(engine) as session:
        for i, draft_id in enumerate(ids):
            d.edit(session, draft_id, f"{EDITED} Edit {i}.")
            DPOCollector().add_manual(session, draft_id, f"A manual reply number {i}, about p99.")
        prompts = session.execute(select(Draft.prompt, Draft.post_id))
        by_user_message = {json.loads(p)[-1]["content"]: post_id for p, post_id in prompts}
    collect_pending(engine)
    return by_user_message


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_every_format_validates(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path, fmt: str
) -> None:
    reviewed(engine, spectra, 4)
    summary = export_dpo(engine, "spectra", tmp_path / "dpo", fmt, eval_fraction=0.5)
    assert summary.total == 8 and summary.sources == {"edit": 4, "manual": 4}
    for split in ("train", "eval"):
        report = validate_file(summary.path(split), fmt)
        assert report.ok, report.errors
        assert report.lines == summary.counts[split]


def test_split_never_straddles_a_post_and_filtered_pairs_stay_out(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    post_of = reviewed(engine, spectra, 16)
    extra = make_drafts(engine, spectra, 17)[-1]
    with session_scope(engine) as session:  # one more draft, edited into a filtered pair
        draft = session.get_one(Draft, extra)
        d.edit(session, extra, draft.text_generated + " ")
    assert collect_pending(engine).by_filter_reason == {"identical_after_normalization": 1}
    summary = export_dpo(engine, "spectra", tmp_path, "trl-conversational", eval_fraction=0.5)
    assert summary.total == 32 and summary.counts["train"] and summary.counts["eval"]
    seen: dict[int, set[str]] = {}
    for split in ("train", "eval"):
        for line in summary.path(split).read_text().splitlines():
            post_id = post_of[json.loads(line)["prompt"][-1]["content"]]
            seen.setdefault(post_id, set()).add(split)
    assert len(seen) == 16 and all(len(splits) == 1 for splits in seen.values())
    assert summary.posts["train"] + summary.posts["eval"] == 16
    again = export_dpo(engine, "spectra", tmp_path, "trl-conversational", eval_fraction=0.5)
    assert again.path("train").read_text() == summary.path("train").read_text()


def test_a_crash_mid_export_leaves_the_previous_files(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reviewed(engine, spectra, 3)
    out = dpo_dir("spectra", tmp_path)
    first = export_dpo(engine, "spectra", out)
    before = pair_files(out)
    extra = make_drafts(engine, spectra, 4)[-1]
    with session_scope(engine) as session:
        d.edit(session, extra, EDITED)
    collect_pending(engine)

    def crash(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("signalops_assets.preferences.snapshot.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        export_dpo(engine, "spectra", out)
    monkeypatch.undo()
    assert pair_files(out) == before
    assert leftovers(out) == []
    assert export_dpo(engine, "spectra", out).total == first.total + 1
    assert leftovers(out) == []


def pair_files(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("train.jsonl", "eval.jsonl")}


def leftovers(out: Path) -> list[str]:
    """Temp files, temp links and build directories anywhere under the export directory."""
    return sorted(
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.name.endswith(".tmp") or p.name.startswith(".build-")
    )


def test_export_dir_and_format_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALOPS_EXPORT_DIR", str(tmp_path / "x"))
    assert dpo_dir("spectra") == tmp_path / "x" / "spectra" / "dpo"
    monkeypatch.delenv("SIGNALOPS_EXPORT_DIR")
    assert export_root().parts[-2:] == ("data", "exports")
    with pytest.raises(SignalOpsError, match="unknown format 'csv'"):
        export_dpo(None, "spectra", tmp_path, "csv")  # type: ignore[arg-type]
