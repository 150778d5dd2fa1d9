"""Structured outputs and prompt caching through the real LiteLLM to the fake provider: a JSON
schema only where LiteLLM says the model supports it, cache breakpoints only for explicit
caching (Anthropic), and cached / cache-creation tokens stored and priced from LiteLLM's map."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.judging.judges import JudgeResult, LLMPromptJudge
from signalops_assets.judging.prompts import FewShot, PostInput
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.litellm_setup import get_litellm
from signalops_assets.llm.local_provider import conform
from signalops_assets.llm.loop import run_async
from signalops_assets.llm.tracing import get_tracer
from signalops_assets.vocab import LABELS
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer
from signalops_assets_tests.fakes.otlp_receiver import OTLPReceiver

POSTS = [
    PostInput(i, f"x:{i}", f"@dev{i}", "engineer", f"post {i}: our GPU kernels got slow again")
    for i in range(1, 4)
]
EXAMPLES = tuple(
    FewShot(PostInput(100 + i, f"x:{100 + i}", "@ex", "", "long example text " * 150), label)
    for i, label in enumerate(LABELS)
)


@pytest.fixture
def project() -> ProjectConfig:
    return load_project("spectra")


def _judge(
    fake: FakeOpenAIServer, project: ProjectConfig, model: str, base: str | None = None
) -> LLMPromptJudge:
    gateway = LLMGateway(api_base=base or fake.base_url, api_key="sk-test-only", num_retries=0)
    return LLMPromptJudge(gateway, project, model, fallbacks=(), examples=EXAMPLES)


def _judge_all(judge: LLMPromptJudge) -> list[JudgeResult]:
    async def run() -> list[JudgeResult]:
        return [await judge.ajudge_one(post) for post in POSTS]

    out: list[JudgeResult] = run_async(run())
    return out


def _price(model: str, key: str) -> float:
    return float(get_litellm().get_model_info(model)[key])


def test_schema_is_requested_only_where_litellm_supports_it(
    fake_llm: FakeOpenAIServer, project: ProjectConfig
) -> None:
    supported = _judge_all(_judge(fake_llm, project, "openai/gpt-4o-mini"))
    plain = _judge_all(_judge(fake_llm, project, "openai/primary-x"))
    assert all(j.label and j.error is None for j in supported + plain)
    assert [c.has_response_format for c in fake_llm.calls("gpt-4o-mini")] == [True] * 3
    assert [c.has_response_format for c in fake_llm.calls("primary-x")] == [False] * 3
    schema = fake_llm.last_call("gpt-4o-mini").body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == ["relevant", "irrelevant", "maybe"]
    # The schema is part of what the answer depends on: a different prompt version.
    assert _judge(fake_llm, project, "openai/gpt-4o-mini").prompt_version != (
        _judge(fake_llm, project, "openai/primary-x").prompt_version
    )


def test_a_schema_answer_must_be_the_object_while_others_may_wrap_it(
    fake_llm: FakeOpenAIServer, project: ProjectConfig
) -> None:
    for model in ("gpt-4o-mini", "primary-x"):
        fake_llm.set_behavior(model, malformed="fenced")  # prose around valid fenced JSON
    strict = _judge_all(_judge(fake_llm, project, "openai/gpt-4o-mini"))
    tolerant = _judge_all(_judge(fake_llm, project, "openai/primary-x"))
    assert all(j.error and j.error.startswith("parse failure") for j in strict)
    assert all(j.error is None and j.label for j in tolerant)


def test_openai_cached_prefix_tokens_are_stored_and_priced_at_the_cache_rate(
    fake_llm: FakeOpenAIServer, project: ProjectConfig
) -> None:
    first, second, third = _judge_all(_judge(fake_llm, project, "openai/gpt-4o-mini"))
    assert first.cached_tokens == 0 and second.prompt_tokens and third.prompt_tokens
    assert second.cached_tokens and second.cached_tokens >= 1024
    assert second.cached_tokens % 128 == 0 and second.cached_tokens == third.cached_tokens
    assert not any(c.prompt_text.count("cache_control") for c in fake_llm.calls())
    model = "gpt-4o-mini"
    expected = (
        (second.prompt_tokens - second.cached_tokens) * _price(model, "input_cost_per_token")
        + second.cached_tokens * _price(model, "cache_read_input_token_cost")
        + (second.completion_tokens or 0) * _price(model, "output_cost_per_token")
    )
    assert second.cost_usd == pytest.approx(expected, rel=1e-9)
    assert first.cost_usd is not None and second.cost_usd < first.cost_usd


def test_anthropic_gets_a_cache_breakpoint_and_pays_creation_then_reads(
    fake_llm: FakeOpenAIServer, project: ProjectConfig
) -> None:
    judge = _judge(fake_llm, project, "anthropic/claude-sonnet-4-6", base=fake_llm.url)
    first, second, _ = _judge_all(judge)
    assert first.error is None and second.error is None and second.label
    calls = fake_llm.calls("claude-sonnet-4-6")
    assert len(calls) == 3 and all(c.has_response_format for c in calls)
    # The breakpoint sits on the last static message (the last few-shot answer).
    static = calls[0].messages[-2]
    assert static["role"] == "assistant" and static["content"][0]["cache_control"]
    assert not any("cache_control" in json.dumps(m) for m in calls[0].messages[-1:])
    created = first.cache_creation_tokens or 0
    assert created >= 1024 and not first.cached_tokens
    assert second.cached_tokens == created and not second.cache_creation_tokens
    model = "claude-sonnet-4-6"
    out = _price(model, "output_cost_per_token")
    fresh_in = _price(model, "input_cost_per_token")
    assert first.prompt_tokens and second.prompt_tokens
    assert first.cost_usd == pytest.approx(
        (first.prompt_tokens - created) * fresh_in
        + created * _price(model, "cache_creation_input_token_cost")
        + (first.completion_tokens or 0) * out,
        rel=1e-9,
    )
    assert second.cost_usd == pytest.approx(
        (second.prompt_tokens - created) * fresh_in
        + created * _price(model, "cache_read_input_token_cost")
        + (second.completion_tokens or 0) * out,
        rel=1e-9,
    )


def test_the_langfuse_generation_carries_the_cache_breakdown(
    fake_llm: FakeOpenAIServer,
    project: ProjectConfig,
    otlp_receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in otlp_receiver.env().items():
        monkeypatch.setenv(name, value)
    judge = _judge(fake_llm, project, "anthropic/claude-sonnet-4-6", base=fake_llm.url)
    judge.gateway._tracer = get_tracer()
    first, second, _ = _judge_all(judge)
    get_tracer().flush()
    usages = [
        json.loads(s["attributes"]["langfuse.observation.usage_details"])
        for s in otlp_receiver.spans()
        if s["attributes"].get("langfuse.observation.type") == "generation"
    ]
    assert usages[0]["cache_creation_input_tokens"] == first.cache_creation_tokens
    assert usages[1]["cache_read_input_tokens"] == second.cached_tokens
    assert usages[1]["input"] + usages[1]["cache_read_input_tokens"] == second.prompt_tokens


def test_the_offline_provider_honours_the_schema(
    fake_llm: FakeOpenAIServer, project: ProjectConfig, isolated_env: Path
) -> None:
    (judgment,) = _judge_all(_judge(fake_llm, project, "local/keyword-judge"))[:1]
    assert judgment.error is None and judgment.label in ("relevant", "irrelevant", "maybe")
    fmt = {"type": "json_schema", "json_schema": {"name": "j", "schema": {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["relevant"]}, "confidence": {
            "type": "number", "minimum": 0, "maximum": 1}},
        "required": ["label", "confidence"]}}}  # fmt: skip
    assert json.loads(conform('{"label": "relevant", "confidence": 0.5, "x": 1}', fmt)) == {
        "label": "relevant",
        "confidence": 0.5,
    }
    for bad in ('{"label": "maybe", "confidence": 0.5}', '{"label": "relevant"}',
                '{"label": "relevant", "confidence": 2}'):  # fmt: skip
        with pytest.raises(ValueError):
            conform(bad, fmt)
