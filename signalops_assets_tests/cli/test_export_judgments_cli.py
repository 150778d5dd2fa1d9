"""`signalops export training-data --type judgments`: the summary line, the default and explicit
paths, and one-line exit-2 errors that leave the previous file byte for byte intact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from signalops_assets.cli.main import cli
from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.judges import JudgeResult, parse_judgment
from signalops_assets.judging.labels import label_judgment
from signalops_assets.judging.service import store_judgments
from signalops_assets.vocab import LABELS
from signalops_assets_tests.cli.helpers import one_line_error

PREVIOUS = b'{"messages": []}\n'


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["export", "training-data", *args])


def seed(engine: Engine) -> None:
    """Three judged posts: two labelled (one corrects the judge), one failed and labelled."""
    with session_scope(engine) as session:
        posts = list(session.scalars(select(Post.id).order_by(Post.id).limit(3)))
        store_judgments(
            session,
            "spectra",
            [
                JudgeResult(posts[0], "relevant", 0.9, "r", "m", "m"),
                JudgeResult(posts[1], "relevant", 0.8, "r", "m", "m"),
                JudgeResult(posts[2], "maybe", 0.0, "", "m", "m", error="timeout"),
            ],
        )
        session.flush()
        ids = session.scalars(select(Judgment.id).order_by(Judgment.post_id)).all()
        for judgment_id, label in zip(ids, LABELS, strict=True):
            label_judgment(session, judgment_id, label)


def test_export_judgments_default_and_explicit_path(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    seed(engine)
    result = invoke("--type", "judgments", "--project", "spectra")
    assert result.exit_code == 0, result.output
    default = tmp_path / "exports" / "spectra" / "judgments" / "train.jsonl"
    assert result.stdout.splitlines()[0] == (
        f"spectra: 2 judgment examples (irrelevant=1, relevant=1; 1 corrected the judge), "
        f"1 skipped → {default}"
    )
    posts_file = default.with_name("train.posts.tsv")
    assert f"its posts → {posts_file}" in result.stdout.splitlines()[1]
    lines = posts_file.read_text().splitlines()
    assert len(lines) == 2 and all(line.startswith("spectra\tx:") for line in lines)
    assert "skipped post" in result.stderr and "only failed judgments" in result.stderr
    answers = [json.loads(line)["messages"][-1]["content"] for line in default.open()]
    assert [parse_judgment(a)[0] for a in answers] == ["relevant", "irrelevant"]

    explicit = tmp_path / "ft" / "judge.jsonl"
    result = invoke("--type", "judgments", "--project", "spectra", "--path", str(explicit))
    assert result.exit_code == 0 and str(explicit) in result.stdout
    assert explicit.read_bytes() == default.read_bytes()
    # Without --project every configured project is exported to its default path.
    assert invoke("--type", "judgments").exit_code == 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--project", "nope", "--path", "{file}"], "project config not found"),
        (["--project", "spectra", "--path", "{blocker}/x.jsonl"], "cannot create directory"),
        (["--project", "spectra", "--path", "{dir}"], "is a directory"),
        (["--project", "spectra", "--path", "{file}", "--format", "openai"], "--format is for"),
        (["--project", "spectra", "--path", "{file}", "--format", "csv"], "unknown format 'csv'"),
        (["--project", "spectra", "--output", "argilla"], "--output argilla needs --type dpo"),
        (["--project", "spectra", "--path", "{file}", "--output", "{dir}"], "not both"),
        (["--path", "{file}"], "--path names one file: give --project too"),
    ],
)
def test_errors_are_one_line_and_keep_the_previous_file(
    engine: Engine,
    spectra: ProjectConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragment: str,
) -> None:
    seed(engine)
    (tmp_path / "projects" / "other.yaml").write_text(
        (tmp_path / "projects" / "spectra.yaml").read_text().replace("spectra", "other")
    )
    previous = tmp_path / "keep" / "train.jsonl"
    previous.parent.mkdir()
    previous.write_bytes(PREVIOUS)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(PREVIOUS)
    paths = {"file": previous, "blocker": blocker, "dir": previous.parent}
    result = invoke("--type", "judgments", *[a.format(**paths) for a in args])
    one_line_error(result, fragment)
    assert previous.read_bytes() == PREVIOUS and blocker.read_bytes() == PREVIOUS
    assert sorted(p.name for p in previous.parent.iterdir()) == ["train.jsonl"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only directory")
def test_unwritable_directory(sqlite_engine: Engine, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "train.jsonl").write_bytes(PREVIOUS)
    locked.chmod(0o555)
    try:
        result = invoke("--type", "judgments", "--project", "spectra", "--path", str(locked))
        one_line_error(result, "is a directory")
        target = str(locked / "train.jsonl")
        result = invoke("--type", "judgments", "--project", "spectra", "--path", target)
        one_line_error(result, "not writable")
    finally:
        locked.chmod(0o755)
    assert (locked / "train.jsonl").read_bytes() == PREVIOUS


def test_dpo_rejects_path_and_reports_unwritable_output(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    one_line_error(invoke("--type", "dpo", "--path", str(tmp_path / "x")), "--path is for")
    one_line_error(invoke("--type", "dpo", "--format", "csv"), "unknown format 'csv'")
    blocker = tmp_path / "blocker"
    blocker.write_bytes(PREVIOUS)
    one_line_error(invoke("--type", "dpo", "--output", str(blocker)), "not a directory")
    one_line_error(invoke("--type", "dpo", "--output", str(blocker / "sub")), "cannot write")
    assert blocker.read_bytes() == PREVIOUS


def test_directory_without_write_permission(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The permission check itself, also where the suite runs as root."""
    target = tmp_path / "train.jsonl"
    target.write_bytes(PREVIOUS)
    monkeypatch.setattr("signalops_assets.judging.training_export.os.access", lambda *_: False)
    result = invoke("--type", "judgments", "--project", "spectra", "--path", str(target))
    one_line_error(result, "directory is not writable")
    assert target.read_bytes() == PREVIOUS


def test_register_with_the_exports_training_posts(engine: Engine, spectra: ProjectConfig) -> None:
    """export → register --training-posts → those posts are recorded for the model."""
    from signalops_assets.db.models import ModelRegistryEntry
    from signalops_assets.db.training_models import ModelTrainingPost

    seed(engine)
    exported = invoke("--type", "judgments", "--project", "spectra")
    assert exported.exit_code == 0, exported.output
    posts_file = exported.stdout.splitlines()[1].split("→ ")[1].split(" (")[0]
    register = ["model", "register", "--model-id", "ft:gpt-4o-mini:o::x", "--provider", "openai"]
    ok = CliRunner().invoke(cli, [*register, "--type", "judge", "--training-posts", posts_file])
    assert ok.exit_code == 0, ok.output
    assert "recorded 2 training posts" in ok.output
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ModelTrainingPost)) == 2
    bad = Path(posts_file).with_name("bad.tsv")
    first = Path(posts_file).read_text().splitlines()[0]
    bad.write_text(f"{first}\nnot-a-post\n")
    refused = CliRunner().invoke(
        cli,
        [*register[:3], "ft:other", *register[4:], "--type", "judge", "--training-posts", str(bad)],
    )
    assert refused.exit_code == 2 and refused.output.count("\n") == 1
    assert f"{bad}:2:" in refused.output
    with session_scope(engine) as session:
        assert (
            session.scalar(select(func.count()).where(ModelRegistryEntry.model_id == "ft:other"))
            == 0
        )


@pytest.mark.parametrize(
    "args",
    [
        ["export", "training-data", "--type", "judgments"],
        ["export", "training-data", "--type", "dpo"],
        ["export", "training-data", "--type", "dpo", "--output", "argilla"],
        ["preferences", "sync-argilla"],
    ],
)
def test_a_broken_project_stops_the_command_before_any_work(
    engine: Engine,
    spectra: ProjectConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    # Sorted after spectra: a command loading projects as it goes would export spectra first.
    # Argilla "configured" at a dead port: a command that got past the project check would
    # fail on the connection instead, with another message.
    monkeypatch.setenv("ARGILLA_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ARGILLA_API_KEY", "argilla-test-key")
    seed(engine)
    (tmp_path / "projects" / "zzz-broken.yaml").write_text("project_id: [not, a, name\n")
    result = CliRunner().invoke(cli, args)
    one_line_error(result, "zzz-broken")
    assert not (tmp_path / "exports").exists()  # spectra, loaded fine, was not exported either
