"""The split and what goes in it: eval is not empty once there are two posts, identical pairs go
once, crossposts cannot straddle train and eval, reviewer text is NFC with LF, and `--output
FILE.jsonl` writes that one file."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, select

from signalops_assets.cli.main import cli
from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft, Post, PreferencePair
from signalops_assets.db.session import session_scope
from signalops_assets.preferences import drafts as d
from signalops_assets.preferences.collector import collect_pending
from signalops_assets.preferences.export import export_dpo
from signalops_assets_tests.preferences.review_helpers import EDITED, judge, make_drafts


def edit_all(engine: Engine, ids: list[int], text: str | None = None) -> None:
    with session_scope(engine) as session:
        for i, draft_id in enumerate(ids):
            d.edit(session, draft_id, text or f"{EDITED} Reply {i}.")
    collect_pending(engine)


def crosspost(engine: Engine, post_id: int) -> int:
    """The same author, bio and text under another platform id."""
    with session_scope(engine) as session:
        post = session.get_one(Post, post_id)
        copy = Post(
            project_id=post.project_id,
            platform_id=f"{post.platform_id}-crosspost",
            author=post.author,
            author_bio=post.author_bio,
            text=post.text,
            created_at=post.created_at,
        )
        session.add(copy)
        session.flush()
        copy_id = copy.id
    judge(engine, copy_id, "relevant")
    return copy_id


def test_eval_is_not_empty_with_two_posts_and_warns_with_one(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    ids = make_drafts(engine, spectra, 1)
    edit_all(engine, ids)
    one = export_dpo(engine, "spectra", tmp_path / "one", eval_fraction=0.01)
    assert (one.counts, one.moved_to_eval) == ({"train": 1, "eval": 0}, 0)

    edit_all(engine, make_drafts(engine, spectra, 2)[1:])
    two = export_dpo(engine, "spectra", tmp_path / "two", eval_fraction=0.01)
    assert two.counts == {"train": 1, "eval": 1} and two.posts == {"train": 1, "eval": 1}
    assert two.moved_to_eval == 1
    again = export_dpo(engine, "spectra", tmp_path / "two", eval_fraction=0.01)
    assert (tmp_path / "two" / "eval.jsonl").read_text() and again.counts == two.counts
    none = export_dpo(engine, "spectra", tmp_path / "zero", eval_fraction=0.0)
    assert none.counts == {"train": 2, "eval": 0}  # eval_fraction 0 is respected


def test_crossposts_are_one_post_and_identical_pairs_go_once(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    make_drafts(engine, spectra, 6)
    with session_scope(engine) as session:
        posts = list(session.scalars(select(Draft.post_id).order_by(Draft.post_id)))
    copies = [crosspost(engine, post_id) for post_id in posts]
    all_drafts = make_drafts(engine, spectra, 6)
    assert len(all_drafts) == 12
    with session_scope(engine) as session:
        by_post = {p: i for i, p in session.execute(select(Draft.id, Draft.post_id))}
    # The first three crossposts get the very same edit as their original; the rest another.
    with session_scope(engine) as session:
        for n, (post_id, copy_id) in enumerate(zip(posts, copies, strict=True)):
            d.edit(session, by_post[post_id], f"{EDITED} Same reply {n}.")
            other = "Same" if n < 3 else "Different"
            d.edit(session, by_post[copy_id], f"{EDITED} {other} reply {n}.")
    collect_pending(engine)
    with session_scope(engine) as session:
        assert len(list(session.scalars(select(PreferencePair.id)))) == 12

    summary = export_dpo(engine, "spectra", tmp_path, "trl-conversational", eval_fraction=0.5)
    assert summary.duplicates == 3 and summary.total == 9
    where: dict[str, set[str]] = {}
    for split in ("train", "eval"):
        for line in summary.path(split).read_text().splitlines():
            prompt = json.loads(line)["prompt"][-1]["content"]
            where.setdefault(prompt, set()).add(split)
    assert len(where) == 6 and all(len(splits) == 1 for splits in where.values())
    assert summary.counts["eval"] and summary.counts["train"]


def test_reviewer_text_is_stored_and_exported_nfc_with_lf(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    (draft_id,) = make_drafts(engine, spectra, 1)
    crlf = "Line one, caf" + "e\u0301.\r\nLine two.\rLine three about p99."
    expected = "Line one, caf\u00e9.\nLine two.\nLine three about p99."
    edit_all(engine, [draft_id], crlf)
    with session_scope(engine) as session:
        draft = session.get_one(Draft, draft_id)
        pair = session.scalars(select(PreferencePair)).one()
        assert draft.text_final == pair.chosen == expected
    summary = export_dpo(engine, "spectra", tmp_path)
    (line,) = (summary.path("train").read_text() + summary.path("eval").read_text()).splitlines()
    chosen = json.loads(line)["chosen"]
    assert chosen == expected and unicodedata.is_normalized("NFC", chosen)


def test_output_file_writes_that_file_with_every_pair(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    edit_all(engine, make_drafts(engine, spectra, 3))
    runner = CliRunner()
    target = tmp_path / "preferences.jsonl"
    args = ["export", "training-data", "--type", "dpo", "--project", "spectra"]
    result = runner.invoke(cli, [*args, "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.is_file() and len(target.read_text().splitlines()) == 3
    assert "3 pairs" in result.output and "train and eval together" in result.output
    again = runner.invoke(cli, [*args, "--output", str(target), "--format", "openai"])
    assert again.exit_code == 0 and "preferred_output" in target.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".preferences")] == []
    as_dir = runner.invoke(cli, [*args, "--output", str(tmp_path / "root")])
    assert (
        as_dir.exit_code == 0 and (tmp_path / "root" / "spectra" / "dpo" / "train.jsonl").exists()
    )
