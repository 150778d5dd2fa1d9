"""The per-post plan (no database): what is done, what is reused, what needs a call, and the
request a call sends (the seam batch mode shares with interactive judging)."""

from __future__ import annotations

from signalops_assets.config import load_project
from signalops_assets.db.models import Judgment
from signalops_assets.judging.ab import ABTestJudge
from signalops_assets.judging.judges import LLMPromptJudge
from signalops_assets.judging.plan import (
    Policy,
    WorkItem,
    plan_post,
    slot_judgment,
    slot_request,
)
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.gateway import LLMGateway, LLMResponse

POST = PostInput(7, "x:7", "@a", "", "our traces are slow")


def _shadow() -> ABTestJudge:
    project, gateway = load_project("spectra"), LLMGateway()
    return ABTestJudge(
        experiment_id="e1",
        canary_pct=0.5,
        mode="shadow",
        primary=LLMPromptJudge(gateway, project, "openai/gpt-4o-mini"),
        canary=LLMPromptJudge(gateway, project, "openai/canary-y"),
    )


def _row(id_: int, key: str, model: str, version: str | None, **kw: object) -> Judgment:
    values: dict[str, object] = {"error": None, "attempt": 1, "label": "relevant"}
    values.update(kw)
    return Judgment(
        id=id_, post_id=7, judge_key=key, model_id=model, prompt_version=version,
        confidence=0.8, reasoning="r", latency_ms=12.0, cost_usd=0.01, trace_id="t1",
        reused_from_id=None, **values,
    )  # fmt: skip


def test_an_arm_reuses_its_model_and_version_and_the_other_arm_is_called() -> None:
    judge = _shadow()
    version = judge.primary.prompt_version
    item = WorkItem(POST, (_row(1, "openai/gpt-4o-mini", "openai/gpt-4o-mini", version),))
    plan = plan_post(judge, item, Policy())
    (reused,) = plan.reused
    assert (reused.reused_from_id, reused.cost_usd, reused.arm, reused.label) == (
        1,
        0.0,
        "primary",
        "relevant",
    )
    assert reused.judge_key == "experiment:e1" and reused.trace_id == "t1"
    (call,) = plan.calls
    assert call.arm == "canary" and call.judge_key == "experiment:e1:shadow"
    request = slot_request(judge, POST, call)
    assert request.model == "openai/canary-y" and request.response_schema is not None
    response = LLMResponse('{"label": "maybe", "confidence": 0.5, "reasoning": ""}', "x", 1.0, 0.0)
    judgment = slot_judgment(POST, call, response)
    assert (judgment.label, judgment.arm, judgment.is_primary) == ("maybe", "canary", False)
    assert judgment.prompt_version == judge.canary.prompt_version


def test_other_versions_unknown_versions_and_fallback_answers_are_not_reused() -> None:
    judge = _shadow()
    version = judge.primary.prompt_version
    known = (
        _row(1, "openai/gpt-4o-mini", "openai/gpt-4o-mini", "0ld"),
        _row(2, "openai/gpt-4o-mini", "openai/gpt-4o-mini", None),
        _row(3, "openai/gpt-4o-mini", "openai/other-fallback", version),
        _row(4, "openai/gpt-4o-mini", "openai/gpt-4o-mini", version, error="boom", label=None),
    )
    plan = plan_post(judge, WorkItem(POST, known), Policy())
    assert plan.reused == [] and [s.arm for s in plan.calls] == ["primary", "canary"]


def test_done_and_given_up_slots_are_skipped_and_retry_takes_only_failures() -> None:
    judge = _shadow()
    done = _row(1, "experiment:e1", "openai/gpt-4o-mini", judge.primary.prompt_version)
    failed = _row(2, "experiment:e1:shadow", "openai/canary-y", "v", error="x", attempt=3)
    item = WorkItem(POST, (done, failed))
    assert plan_post(judge, item, Policy(max_attempts=3)).calls == []
    (retry,) = plan_post(judge, item, Policy(retry_failed=True)).calls
    assert retry.arm == "canary"
    legacy = _row(3, "experiment:e1", "openai/gpt-4o-mini", None)  # unknown version: done
    assert [s.arm for s in plan_post(judge, WorkItem(POST, (legacy,)), Policy()).calls] == [
        "canary"
    ]
