"""Failed judgments are judged again (next run, up to llm.max_attempts; `judgments retry` on
request), failures stay as superseded history with no label, and a crash keeps whole batches.
Real LiteLLM against the fake OpenAI server, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from signalops_assets.cli.main import cli
from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.db.models import Judgment
from signalops_assets.db.session import session_scope
from signalops_assets.judging.judges import LLMPromptJudge
from signalops_assets.judging.service import JudgeRunSummary, judge_pending
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets_tests.factories import seed_posts
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

MODEL = "openai/judge-r"


def add_posts(engine: Engine, tmp_path: Path, n: int) -> list[int]:
    texts = [f"post {i}: our p99 latency doubled after the deploy" for i in range(n)]
    return seed_posts(engine, tmp_path, texts, prefix="x").post_ids


def judge(fake_llm: FakeOpenAIServer, project: ProjectConfig) -> LLMPromptJudge:
    gateway = LLMGateway(api_base=fake_llm.base_url, api_key="sk-test-only", num_retries=0)
    return LLMPromptJudge(gateway, project, MODEL)


def rows(engine: Engine) -> list[tuple[int, int, bool, str | None, str | None]]:
    with session_scope(engine) as session:
        return [
            tuple(r)  # type: ignore[misc]
            for r in session.execute(
                select(
                    Judgment.post_id,
                    Judgment.attempt,
                    Judgment.superseded,
                    Judgment.label,
                    Judgment.error,
                ).order_by(Judgment.post_id, Judgment.attempt)
            )
        ]


def run(
    engine: Engine, fake_llm: FakeOpenAIServer, cfg: ProjectConfig, **kw: object
) -> JudgeRunSummary:
    return judge_pending(engine, "spectra", judge(fake_llm, cfg), max_concurrency=4, **kw)  # type: ignore[arg-type]


def test_failed_then_recovered_provider(
    engine: Engine, fake_llm: FakeOpenAIServer, tmp_path: Path
) -> None:
    cfg = load_project("spectra")
    add_posts(engine, tmp_path, 5)
    fake_llm.set_behavior("judge-r", status=500)
    first = run(engine, fake_llm, cfg)
    assert (first.posts_judged, first.failures, first.given_up) == (5, 5, 0)
    assert all(label is None and error for _, _, _, label, error in rows(engine))

    fake_llm.clear_behavior("judge-r")  # the provider is back
    second = run(engine, fake_llm, cfg)
    assert (second.posts_judged, second.failures, second.recovered) == (5, 0, 5)
    history = rows(engine)
    assert len(history) == 10
    assert [r[1:3] for r in history if r[4]] == [(1, True)] * 5  # failures kept, superseded
    assert all(r[1:3] == (2, False) and r[3] for r in history if not r[4])

    calls = fake_llm.call_count("judge-r")
    third = run(engine, fake_llm, cfg)
    assert third.posts_judged == 0 and fake_llm.call_count("judge-r") == calls  # never repeated


def test_gives_up_after_max_attempts_then_cli_retry(
    engine: Engine,
    fake_llm: FakeOpenAIServer,
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = isolated_env / "projects" / "spectra.yaml"
    path.write_text(
        path.read_text().replace(
            "judge_model: local/keyword-judge", f"judge_model: {MODEL}\n  max_attempts: 2"
        )
    )
    cfg = load_project("spectra")
    assert cfg.llm.max_attempts == 2
    add_posts(engine, tmp_path, 4)
    fake_llm.set_behavior("judge-r", status=500)
    assert run(engine, fake_llm, cfg, max_attempts=2).given_up == 0
    assert run(engine, fake_llm, cfg, max_attempts=2).given_up == 4
    before = fake_llm.call_count("judge-r")
    given_up = run(engine, fake_llm, cfg, max_attempts=2)
    assert (given_up.posts_judged, given_up.given_up) == (0, 4)
    assert fake_llm.call_count("judge-r") == before  # given up: no more calls on its own

    fake_llm.clear_behavior("judge-r")
    monkeypatch.setenv("SIGNALOPS_LLM_API_BASE", fake_llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-only")
    runner = CliRunner()
    nothing = runner.invoke(cli, ["judgments", "retry", "--error-like", "RateLimitError"])
    assert nothing.exit_code == 0, nothing.output
    assert "re-judged 0 failed posts" in nothing.output and "4 given up" in nothing.output
    result = runner.invoke(
        cli, ["judgments", "retry", "--project", "spectra", "--error-like", "InternalServer"]
    )
    assert result.exit_code == 0, result.output
    assert "re-judged 4 failed posts" in result.output and "4 recovered" in result.output
    assert "0 given up" in result.output
    current = [r for r in rows(engine) if not r[2]]
    assert len(current) == 4 and all(r[1] == 3 and r[3] and not r[4] for r in current)
    unknown = runner.invoke(cli, ["judgments", "retry", "--project", "nope"])
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output


def test_a_new_prompt_versions_failures_never_replace_the_old_label(
    engine: Engine, fake_llm: FakeOpenAIServer, tmp_path: Path
) -> None:
    """A prompt change met by a provider outage: every post keeps its last good label (current,
    counted) while the new version fails; the failures are history with their attempts, the
    post gives up after max_attempts like any failure, and an explicit retry replaces the label
    only with a success."""
    cfg = load_project("spectra")
    add_posts(engine, tmp_path, 3)
    assert run(engine, fake_llm, cfg).failures == 0
    old = {r[0]: r[3] for r in rows(engine)}
    changed = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={"temperature": 0.7})})
    assert judge(fake_llm, changed).prompt_version != judge(fake_llm, cfg).prompt_version

    fake_llm.set_behavior("judge-r", status=500)
    first = run(engine, fake_llm, changed, max_attempts=2)
    assert (first.posts_judged, first.failures, first.given_up) == (3, 3, 0)
    current = [r for r in rows(engine) if not r[2]]
    assert {r[0]: r[3] for r in current} == old and all(r[4] is None for r in current)
    history = [r for r in rows(engine) if r[2]]
    assert [(r[1], r[3], bool(r[4])) for r in history] == [(1, None, True)] * 3
    assert run(engine, fake_llm, changed, max_attempts=2).given_up == 3  # attempt 2 of 2
    calls = fake_llm.call_count("judge-r")
    again = run(engine, fake_llm, changed, max_attempts=2)
    assert (again.posts_judged, again.given_up) == (0, 3) and fake_llm.call_count(
        "judge-r"
    ) == calls
    assert {r[0]: r[3] for r in rows(engine) if not r[2]} == old  # still the old labels

    fake_llm.clear_behavior("judge-r")
    retried = run(engine, fake_llm, changed, max_attempts=2, retry_failed=True)
    assert (retried.posts_judged, retried.failures, retried.given_up) == (3, 0, 0)
    current = [r for r in rows(engine) if not r[2]]
    assert len(current) == 3 and all(r[3] and r[4] is None for r in current)
    version = judge(fake_llm, changed).prompt_version
    with session_scope(engine) as session:
        versions = set(session.scalars(select(Judgment.prompt_version).where(~Judgment.superseded)))
    assert versions == {version}
    assert len(rows(engine)) == 3 + 6 + 3  # old successes, 6 failures, 3 new successes


def test_crash_mid_run_keeps_finished_batches(
    engine: Engine, fake_llm: FakeOpenAIServer, tmp_path: Path
) -> None:
    cfg = load_project("spectra")
    ids = add_posts(engine, tmp_path, 30)
    fake_llm.set_behavior("judge-r", latency_ms=20)

    class Crash(Exception):
        pass

    def crash(progress: object) -> None:
        if getattr(progress, "stored", 0) >= 8:
            raise Crash  # the process goes down mid-run

    with pytest.raises(Crash):
        run(engine, fake_llm, cfg, commit_rows=4, commit_s=60, on_progress=crash, progress_s=0)
    with session_scope(engine) as session:
        kept = session.scalar(select(func.count()).select_from(Judgment))
    assert kept is not None and 8 <= kept < 30 and kept % 4 == 0  # whole batches only

    rest = run(engine, fake_llm, cfg)
    assert rest.posts_judged == 30 - kept
    with session_scope(engine) as session:
        per_post = session.execute(
            select(Judgment.post_id, func.count()).group_by(Judgment.post_id)
        ).all()
    assert sorted(p for p, _ in per_post) == ids and {n for _, n in per_post} == {1}
