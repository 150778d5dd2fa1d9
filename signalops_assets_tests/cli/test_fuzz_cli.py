"""Property-based fuzzing of the argument entry points: `drafts edit --text`, database URLs,
export paths. Exit 0 or 2, one line on error, never a traceback, nothing changed on refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft, DraftEvent
from signalops_assets.db.session import cached_engine, session_scope
from signalops_assets_tests.cli.fuzz_helpers import EXAMPLES, any_text, check_cli
from signalops_assets_tests.cli.helpers import invoke
from signalops_assets_tests.preferences.review_helpers import make_drafts


def _draft(engine: Engine, draft_id: int) -> tuple[str, str | None, int]:
    with session_scope(engine) as session:
        draft = session.get(Draft, draft_id)
        assert draft is not None
        events = session.query(DraftEvent).filter(DraftEvent.draft_id == draft_id).count()
        return draft.status, draft.text_final, events


def test_fuzz_drafts_edit_text(engine: Engine, spectra: ProjectConfig) -> None:
    draft_id = make_drafts(engine, spectra, 1)[0]
    texts = any_text | st.text(min_size=1) | st.sampled_from(["", " ", "a\x00b", "caf\udce9"])

    @given(texts)
    def run(text: str) -> None:
        EXAMPLES["drafts edit --text"] = EXAMPLES.get("drafts edit --text", 0) + 1
        before = _draft(engine, draft_id)
        result = invoke("drafts", "edit", str(draft_id), "--text", text, "--no-collect-dpo")
        check_cli(result, 1)
        after = _draft(engine, draft_id)
        if result.exit_code == 2:
            assert after == before
        else:
            assert after == ("edited", text.strip(), before[2] + 1)

    run()


@st.composite
def database_urls(draw: st.DrawFn, folder: Path) -> str:
    """URLs that stay on this machine: SQLite paths under `folder`, PostgreSQL on 127.0.0.1
    (a closed port or a database that does not exist), other dialects, and garbage."""
    # An environment variable cannot hold a NUL (os.environ raises), so none is drawn.
    chars = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
    name = draw(st.text(chars, max_size=12))
    query = draw(st.sampled_from(["", "?mode=ro", "?uri=true", "?timeout=x", "?foo=bar"]))
    return draw(
        st.sampled_from(
            [
                f"sqlite:///{folder}/{name}{query}",
                f"sqlite:///{folder}/{name}/x.db",
                f"sqlite:///{folder}/afile{query}",
                f"sqlite:///file:{folder}/{name}?mode=memory&uri=true",
                f"sqlite://{name}",
                f"postgresql+psycopg2://postgres@127.0.0.1:1/{name}",
                f"postgresql://postgres@127.0.0.1:5432/nosuchdb_{name}",
                f"mysql://u@127.0.0.1/{name}",
                f"{name}://x",
                name,
            ]
        )
    )


def test_fuzz_database_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "dbs"
    folder.mkdir()
    (folder / "afile").write_text("not a database")

    @given(database_urls(folder), st.sampled_from([["model", "list"], ["drafts", "list"]]))
    def run(url: str, args: list[str]) -> None:
        EXAMPLES["database urls"] = EXAMPLES.get("database urls", 0) + 1
        monkeypatch.setenv("SIGNALOPS_DATABASE_URL", url)
        before = sorted(p.name for p in folder.iterdir())
        result = invoke(*args)
        check_cli(result, 1)
        # Only `db upgrade` creates a database: nothing appears for a read command.
        assert sorted(p.name for p in folder.iterdir()) == before
        assert not (Path.cwd() / "file:").exists()
        cached_engine.cache_clear()

    try:
        run()
    finally:
        cached_engine.cache_clear()


def test_fuzz_export_paths(engine: Engine, spectra: ProjectConfig, tmp_path: Path) -> None:
    base = tmp_path / "out"
    base.mkdir()
    (base / "taken.jsonl").mkdir()
    (base / "file").write_text("x")
    segment = st.text(
        st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"), max_size=8
    )
    suffix = st.sampled_from(["", ".jsonl", "/", "/train.jsonl"])

    @given(st.lists(segment | st.sampled_from(["file", "taken.jsonl", "."]), max_size=3), suffix)
    def run(parts: list[str], end: str) -> None:
        EXAMPLES["export paths"] = EXAMPLES.get("export paths", 0) + 1
        output = os.path.join(str(base), *parts) + end
        result = invoke(
            "export", "training-data", "--type", "dpo", "--project", "spectra", "--output", output
        )
        check_cli(result, 1)

    run()
