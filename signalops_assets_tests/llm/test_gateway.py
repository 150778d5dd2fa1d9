"""The gateway through LiteLLM's real HTTP path to a local fake OpenAI server."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from signalops_assets.llm.gateway import LLMGateway, LLMRequest
from signalops_assets.llm.jsonparse import parse_json_object
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

MSG = [{"role": "user", "content": "<post>\nneed distributed tracing\n</post>"}]


def gw(server: FakeOpenAIServer, **kw: object) -> LLMGateway:
    return LLMGateway(api_base=server.base_url, api_key="sk-test-secret", backoff_s=0.01, **kw)  # type: ignore[arg-type]


def test_complete_returns_text_usage_and_latency(fake_llm: FakeOpenAIServer) -> None:
    response = gw(fake_llm).complete(LLMRequest(model="openai/judge-a", messages=MSG))
    assert response.ok and response.model == "openai/judge-a"
    assert parse_json_object(response.text).data is not None
    assert response.prompt_tokens and response.completion_tokens
    assert response.latency_ms > 0
    assert fake_llm.call_count("judge-a") == 1 and fake_llm.last_call().has_authorization


def test_retries_5xx_then_succeeds(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior("flaky", status=500, fail_times=2)
    response = gw(fake_llm, num_retries=2).complete(LLMRequest(model="openai/flaky", messages=MSG))
    assert response.ok and response.attempts == 3
    assert fake_llm.call_count("flaky") == 3


def test_429_retried_then_falls_back(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior("limited", status=429, retry_after=0)
    request = LLMRequest(model="openai/limited", messages=MSG, fallbacks=["openai/backup"])
    response = gw(fake_llm, num_retries=1).complete(request)
    assert response.ok and response.model == "openai/backup"
    assert fake_llm.call_count("limited") == 2 and fake_llm.call_count("backup") == 1
    assert any("RateLimitError" in e for e in response.errors)


def test_non_retryable_error_goes_straight_to_fallback(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior("denied", status=401)
    request = LLMRequest(model="openai/denied", messages=MSG, fallbacks=["openai/backup"])
    response = gw(fake_llm, num_retries=3).complete(request)
    assert response.ok and fake_llm.call_count("denied") == 1


def test_a_provider_echoing_the_key_never_puts_it_in_the_error(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior("denied", status=401)  # the fake echoes the rejected key
    response = gw(fake_llm, num_retries=0).complete(LLMRequest(model="openai/denied", messages=MSG))
    assert not response.ok and response.error and "AuthenticationError" in response.error
    assert "sk-test-secret" not in response.error and "[redacted]" in response.error
    assert "\n" not in response.error and "dashboard" not in response.error  # the first line


def test_timeout_is_a_failure_not_an_exception(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior("slow", timeout=True)
    started = time.perf_counter()
    request = LLMRequest(model="openai/slow", messages=MSG, timeout_s=0.5)
    response = gw(fake_llm, num_retries=0).complete(request)
    assert not response.ok and "Timeout" in (response.error or "")
    assert time.perf_counter() - started < 5
    assert "sk-test-secret" not in (response.error or "")


def test_all_fail_reports_last_error(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior("a", status=500)
    fake_llm.set_behavior("b", status=503)
    request = LLMRequest(model="openai/a", messages=MSG, fallbacks=["openai/b"])
    response = gw(fake_llm, num_retries=1).complete(request)
    assert not response.ok and response.attempts == 4 and response.cost_usd is None
    assert response.error and response.error.startswith("openai/b:")


def test_malformed_json_is_a_typed_failure(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior("chatty", content="Sure! I think it is relevant, no JSON here.")
    response = gw(fake_llm).complete(LLMRequest(model="openai/chatty", messages=MSG))
    parsed = parse_json_object(response.text)
    assert response.ok and not parsed.ok and "no JSON object" in (parsed.error or "")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ('```json\n{"label": "relevant", "confidence": 0.9}\n```', "relevant"),
        ('Here you go: {"label": "maybe", "confidence": 0.5} hope it helps', "maybe"),
        ('{"label": "irrelevant", "confidence": 0.1}', "irrelevant"),
    ],
)
def test_parse_json_tolerates_fences_and_prose(text: str, label: str) -> None:
    assert (parse_json_object(text).data or {})["label"] == label


def test_cost_known_model_and_unknown_model(fake_llm: FakeOpenAIServer) -> None:
    known = gw(fake_llm).complete(LLMRequest(model="openai/gpt-4o-mini", messages=MSG))
    assert known.ok and known.cost_usd is not None and known.cost_usd > 0
    unknown = gw(fake_llm).complete(LLMRequest(model="openai/house-model-7", messages=MSG))
    assert unknown.ok and (unknown.cost_usd is None or unknown.cost_usd == 0)


def test_offline_local_models_go_through_litellm() -> None:
    from signalops_assets.config import load_project
    from signalops_assets.judging.judges import parse_judgment
    from signalops_assets.judging.prompts import PostInput, judge_messages

    cfg = load_project("spectra")
    post = PostInput(1, "x:1", "@dev", "SRE", "our p99 latency spike needs distributed tracing")
    response = LLMGateway().complete(
        LLMRequest(model="local/keyword-judge", messages=judge_messages(cfg, post))
    )
    assert response.ok and response.cost_usd == 0.0
    assert parse_judgment(response.text)[0] == "relevant"  # type: ignore[index]
    bad = LLMGateway(num_retries=0).complete(LLMRequest(model="local/nope", messages=MSG))
    assert not bad.ok and "unknown local model" in (bad.error or "")


def test_import_makes_no_network_call_and_exit_is_quiet() -> None:
    code = (
        "import socket\n"
        "def deny(*a, **k):\n"
        "    raise RuntimeError('network at import')\n"
        "socket.create_connection = deny\n"
        "from signalops_assets.llm.gateway import LLMGateway, LLMRequest\n"
        "gw = LLMGateway()\n"
        "reqs = [LLMRequest(model='local/keyword-judge', messages=[{'role':'user','content':'x'}])]"
        " * 3\n"
        "print(all(gw.complete(r).ok for r in reqs))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert "Event loop is closed" not in result.stderr
    assert "network at import" not in result.stderr
