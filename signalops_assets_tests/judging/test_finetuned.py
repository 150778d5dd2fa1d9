"""fine_tuned_judge through LiteLLM to the fake OpenAI server: routing of `ft:` ids, fallback on
errors and on the per-attempt timeout, the latency budget as the whole judgment's deadline, and
no label + error when there is no fallback."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.db.models import Project
from signalops_assets.db.session import session_scope
from signalops_assets.judging.factory import create_judge
from signalops_assets.judging.finetuned import fine_tuned_judge
from signalops_assets.judging.judges import JudgeResult, LLMPromptJudge
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.loop import run_async
from signalops_assets.llm.model_ids import is_fine_tuned, litellm_model, model_aliases
from signalops_assets.posts import ensure_project
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

FT = "ft:gpt-4o-mini:org::abc"
FALLBACK = "openai/fallback-z"
POST = PostInput(1, "x:1", "@dev", "SRE", "p99 latency spike after deploy, need a flame graph")


@pytest.fixture
def gateway(fake_llm: FakeOpenAIServer) -> LLMGateway:
    return LLMGateway(api_base=fake_llm.base_url, api_key="sk-test-only", num_retries=0)


def project(**llm: Any) -> ProjectConfig:
    cfg = load_project("spectra")
    return cfg.model_copy(update={"llm": cfg.llm.model_copy(update=llm)})


def judge_once(judge: LLMPromptJudge) -> JudgeResult:
    judgments: list[JudgeResult] = run_async(judge.ajudge(POST))
    assert len(judgments) == 1
    return judgments[0]


def test_ft_id_routes_through_openai_provider(
    gateway: LLMGateway, fake_llm: FakeOpenAIServer
) -> None:
    assert litellm_model(FT) == f"openai/{FT}"
    assert litellm_model(f"openai/{FT}") == f"openai/{FT}"
    assert litellm_model("openai/gpt-4o-mini") == "openai/gpt-4o-mini"
    assert is_fine_tuned(FT) and is_fine_tuned(f"openai/{FT}") and not is_fine_tuned("gpt-4o")
    assert set(model_aliases(f"openai/{FT}")) == set(model_aliases(FT)) == {FT, f"openai/{FT}"}
    judge = fine_tuned_judge(gateway, project(), FT)
    judgment = judge_once(judge)
    assert fake_llm.last_call().model == FT  # LiteLLM stripped only the provider prefix
    expected = fake_llm.judgment_for(FT, fake_llm.last_call().last_user_text)
    assert judgment.error is None and judgment.label == expected["label"]
    assert judgment.judge_key == FT == judge.done_key and judgment.model_id == f"openai/{FT}"


def test_server_error_falls_back(gateway: LLMGateway, fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior(FT, status=500)
    judgment = judge_once(fine_tuned_judge(gateway, project(judge_fallback_model=FALLBACK), FT))
    assert [c.model for c in fake_llm.calls()] == [FT, "fallback-z"]
    assert judgment.error is None and judgment.model_id == FALLBACK
    assert judgment.reasoning.startswith("[fallback after:") and judgment.judge_key == FT


def test_the_fallback_composes_with_a_prompted_judge(
    gateway: LLMGateway, fake_llm: FakeOpenAIServer
) -> None:
    """The fallback is an option of the one LLM judge, not a fine-tuned subclass: a prompted
    model gets it the same way, with the same charging of wait and cost."""
    fake_llm.set_behavior("broken-p", status=500)
    judge = LLMPromptJudge(gateway, project(), "openai/broken-p", (), fallback_model=FALLBACK)
    judgment = judge_once(judge)
    assert [c.model for c in fake_llm.calls()] == ["broken-p", "fallback-z"]
    assert judgment.error is None and judgment.model_id == FALLBACK
    assert judgment.judge_key == "openai/broken-p" and judgment.reasoning.startswith("[fallback")


def test_attempt_timeout_falls_back_within_the_budget(
    fake_llm: FakeOpenAIServer,
) -> None:
    fake_llm.set_behavior(FT, latency_ms=1500)
    gateway = LLMGateway(
        api_base=fake_llm.base_url, api_key="sk-test-only", num_retries=0, timeout_s=0.2
    )
    cfg = project(judge_fallback_model=FALLBACK, max_judge_latency_ms=5000)
    judgment = judge_once(fine_tuned_judge(gateway, cfg, FT))
    assert judgment.error is None and judgment.model_id == FALLBACK
    assert "Timeout" in judgment.reasoning
    # The arm is charged the time it waited for the fine-tuned model, not just the fallback's.
    assert 200 <= judgment.latency_ms < 1500


def test_latency_budget_is_the_whole_judgments_deadline(
    gateway: LLMGateway, fake_llm: FakeOpenAIServer
) -> None:
    """max_judge_latency_ms bounds the fine-tuned call, its retries and the fallback together
    (the per-attempt timeout here is the gateway's 60 s)."""
    fake_llm.set_behavior(FT, latency_ms=1500)
    cfg = project(judge_fallback_model=FALLBACK, max_judge_latency_ms=300)
    judgment = judge_once(fine_tuned_judge(gateway, cfg, FT))
    # The model answers after 1.5 s: the judgment's own clock shows it was not waited for (the
    # wall clock would also hold the event loop's start and teardown).
    assert judgment.latency_ms < 1000
    assert judgment.label is None and judgment.error is not None
    assert "latency budget exceeded: > 300 ms" in judgment.error
    assert fake_llm.call_count("fallback-z") == 0  # no time was left for it


def test_no_fallback_stores_no_label_with_error(
    gateway: LLMGateway, fake_llm: FakeOpenAIServer
) -> None:
    fake_llm.set_behavior(FT, status=500)
    judgment = judge_once(fine_tuned_judge(gateway, project(), FT))
    assert judgment.label is None and judgment.confidence == 0.0
    assert judgment.error and "InternalServerError" in judgment.error
    assert fake_llm.call_count() == 1


def test_failing_fallback_keeps_both_errors(
    gateway: LLMGateway, fake_llm: FakeOpenAIServer
) -> None:
    fake_llm.set_behavior(FT, malformed="prose")
    fake_llm.set_behavior(FALLBACK, status=500)
    judgment = judge_once(fine_tuned_judge(gateway, project(judge_fallback_model=FALLBACK), FT))
    assert judgment.label is None and judgment.error is not None
    assert judgment.error.startswith("parse failure") and f"fallback {FALLBACK}:" in judgment.error


def test_factory_builds_finetuned_judge_from_override(
    sqlite_engine: Engine, gateway: LLMGateway
) -> None:
    cfg = project()
    with session_scope(sqlite_engine) as session:
        ensure_project(session, cfg)
        row = session.get(Project, "spectra")
        assert row is not None
        row.judge_model_override = FT
        session.flush()
        judge = create_judge(session, gateway, cfg)
    assert isinstance(judge, LLMPromptJudge) and judge.done_key == FT
    assert judge.description.startswith("fine-tuned judge")


def test_prompted_judge_budget_is_the_whole_deadline(fake_llm: FakeOpenAIServer) -> None:
    """Same meaning for a prompted judge: 5 retries of a slow model stop at the budget."""
    fake_llm.set_behavior("slow-p", latency_ms=1500)
    gateway = LLMGateway(api_base=fake_llm.base_url, api_key="sk-test-only", num_retries=5)
    judge = LLMPromptJudge(gateway, project(max_judge_latency_ms=400), "openai/slow-p")
    judgments: list[JudgeResult] = run_async(judge.ajudge(POST))
    assert judgments[0].latency_ms < 1000  # one 1.5 s attempt alone would exceed it
    assert judgments[0].label is None
    assert "latency budget exceeded: > 400 ms" in (judgments[0].error or "")
