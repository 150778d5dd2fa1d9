"""The DPO export records its files as a `training_sets` row (kind dpo, drafter) with sha256,
counts and the posts of each split; the same content again records nothing new. SQLite and
PostgreSQL, through the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, select

from signalops_assets.cli.main import cli
from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import PreferencePair
from signalops_assets.db.session import session_scope
from signalops_assets.db.training_models import TrainingSet, TrainingSetPost
from signalops_assets.preferences import drafts as d
from signalops_assets.preferences.collector import collect_pending
from signalops_assets_tests.preferences.review_helpers import EDITED, make_drafts


def _edit(engine: Engine, ids: list[int]) -> None:
    with session_scope(engine) as session:
        for i, draft_id in enumerate(ids):
            d.edit(session, draft_id, f"{EDITED} Reply {draft_id}-{i}.")
    collect_pending(engine)


def _export(tmp_path: Path) -> str:
    out = CliRunner().invoke(
        cli,
        [
            "export",
            "training-data",
            "--type",
            "dpo",
            "--project",
            "spectra",
            "--output",
            str(tmp_path / "out"),
        ],
    )
    assert out.exit_code == 0, out.output
    return out.stdout


def test_dpo_export_is_a_recorded_training_set(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    first = make_drafts(engine, spectra, 8)
    _edit(engine, first)
    assert "(training set 1)" in _export(tmp_path)
    with session_scope(engine) as session:
        row = session.scalars(select(TrainingSet)).one()
        assert (row.kind, row.model_type, row.project_id) == ("dpo", "drafter", "spectra")
        files, counts = dict(row.files), dict(row.counts)
        splits = {
            split: set(
                session.scalars(
                    select(TrainingSetPost.post_id).where(
                        TrainingSetPost.training_set_id == row.id, TrainingSetPost.split == split
                    )
                )
            )
            for split in ("train", "eval")
        }
        pair_posts = set(session.scalars(select(PreferencePair.post_id)))
    assert splits["train"] | splits["eval"] == pair_posts and not splits["train"] & splits["eval"]
    for split in ("train", "eval"):
        path = Path(files[split]["path"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == files[split]["sha256"]
        lines = path.read_text().splitlines()
        assert len(lines) == files[split]["rows"] == counts[split] == len(splits[split])
        assert counts["posts"][split] == len(splits[split])
    assert counts["sources"] == {"edit": 8} and counts["format"] == "trl"
    train_lines = Path(files["train"]["path"]).read_text().splitlines()
    assert all(json.loads(line)["chosen"] for line in train_lines)

    assert "(training set 1)" in _export(tmp_path)  # same content: nothing new recorded
    more = [i for i in make_drafts(engine, spectra, 9) if i not in first]
    assert len(more) == 1
    _edit(engine, more)
    assert "(training set 2)" in _export(tmp_path)
    with session_scope(engine) as session:
        newest = session.get_one(TrainingSet, 2)
        assert newest.counts["train"] + newest.counts["eval"] == 9
