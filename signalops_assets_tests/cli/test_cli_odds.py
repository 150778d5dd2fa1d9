"""The CLI odds: non-UTF-8 --text, a failing --editor, `model list --active`, `drafts send`,
`project reset-judge`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft, Project
from signalops_assets.db.session import session_scope
from signalops_assets_tests.cli.helpers import invoke, one_line_error
from signalops_assets_tests.preferences.review_helpers import make_drafts


def draft_row(engine: Engine, draft_id: int) -> tuple[str, str | None]:
    with session_scope(engine) as session:
        draft = session.get(Draft, draft_id)
        assert draft is not None
        return draft.status, draft.text_final


def test_non_utf8_text_argument_is_one_line(engine: Engine, spectra: ProjectConfig) -> None:
    """The real process, with the raw byte 0xe9 in argv (what `--text $'caf\\xe9'` passes)."""
    draft_id = make_drafts(engine, spectra, 1)[0]
    exe = Path(sys.executable).with_name("signalops")
    done = subprocess.run(
        [exe, "drafts", "edit", str(draft_id).encode(), "--text", b"caf\xe9"],
        capture_output=True,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
        timeout=120,
    )
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert "text is not valid UTF-8 (byte 0xe9 at character 4)" in stderr
    assert draft_row(engine, draft_id) == ("pending", None)


def test_failing_editor_exits_2_and_changes_nothing(
    engine: Engine, spectra: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft_id = make_drafts(engine, spectra, 1)[0]
    monkeypatch.setenv("EDITOR", "false")
    monkeypatch.setenv("VISUAL", "false")
    one_line_error(invoke("drafts", "edit", str(draft_id), "--editor"), "--editor:")
    assert draft_row(engine, draft_id) == ("pending", None)


def test_model_list_says_why_it_is_empty(engine: Engine) -> None:
    assert invoke("model", "list").output == "no models registered\n"
    assert invoke("model", "list", "--active").output == "no models registered\n"
    invoke(
        "model", "register", "--model-id", "openai/m1", "--provider", "openai", "--type", "judge"
    )
    invoke("model", "deactivate", "openai/m1")
    active = invoke("model", "list", "--active")
    assert active.exit_code == 0
    assert active.output == "no active models (1 registered; see: signalops model list)\n"
    drafters = invoke("model", "list", "--type", "drafter")
    assert "no drafter models (1 registered" in drafters.output


def test_drafts_send(engine: Engine, spectra: ProjectConfig) -> None:
    first, second = make_drafts(engine, spectra, 2)[:2]
    one_line_error(invoke("drafts", "send", str(first)), "cannot mark as sent")
    assert invoke("drafts", "approve", str(first)).exit_code == 0
    sent = invoke("drafts", "send", str(first))
    assert sent.exit_code == 0 and sent.output == f"draft {first}: sent\n"
    assert draft_row(engine, first)[0] == "sent"
    one_line_error(invoke("drafts", "send", str(first)), "is sent")
    one_line_error(invoke("drafts", "send", "999999"), "not found")
    assert draft_row(engine, second)[0] == "pending"


def test_project_reset_judge(engine: Engine, spectra: ProjectConfig) -> None:
    with session_scope(engine) as session:
        project = session.get(Project, "spectra")
        assert project is not None
        project.judge_model_override = "ft:gpt-4o-mini:acme::abc"
    result = invoke("project", "reset-judge", "spectra")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "project spectra: cleared judge override ft:gpt-4o-mini:acme::abc; "
        "judge is local/keyword-judge again\n"
    )
    with session_scope(engine) as session:
        assert session.scalar(select(Project.judge_model_override)) is None
    again = invoke("project", "reset-judge", "spectra")
    assert again.output == "project spectra: no judge override set (judge local/keyword-judge)\n"
    one_line_error(invoke("project", "reset-judge", "ghost"), "not found")


def test_orm_writes_refuse_what_postgresql_would_on_both_backends(engine: Engine) -> None:
    """A model id over its String(200) column, a NUL or a non-UTF-8 argument: the same one line
    on SQLite (which would store them) and PostgreSQL (which would raise mid-write)."""
    register = ["model", "register", "--provider", "openai", "--type", "judge", "--model-id"]
    one_line_error(invoke(*register, "m" * 201), "model_registry.model_id is longer than 200")
    one_line_error(invoke(*register, "a\x00b"), "contains a NUL character")
    one_line_error(invoke(*register, "caf\udce9"), "is not valid UTF-8 (byte 0xe9")
    assert invoke("model", "list").output == "no models registered\n"
