"""Self-test of the fake OpenAI server, driven through the real LiteLLM client.

Uses the ``fake_llm`` fixture, registered by the root conftest
(``pytest_plugins = ["signalops_assets_tests.fakes.openai_server"]``); to run this file on its
own, pass ``-p signalops_assets_tests.fakes.openai_server``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import

import litellm
from litellm.exceptions import InternalServerError, RateLimitError, Timeout

from signalops_assets_tests.fakes.openai_server import (
    LABELS,
    FakeOpenAIServer,
)

MODEL = "test-model"
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You judge whether a social post is relevant to SignalOps."},
    {"role": "user", "content": "Post: our new observability dashboard shipped today"},
]


@pytest.fixture(autouse=True)
def _quiet_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    # Otherwise every raised exception prints a "Give Feedback / Get Help" banner to stdout.
    monkeypatch.setattr(litellm, "suppress_debug_info", True)


def _complete(server: FakeOpenAIServer, model: str = MODEL, **kwargs: Any) -> Any:
    kwargs.setdefault("messages", MESSAGES)
    kwargs.setdefault("num_retries", 0)
    return litellm.completion(
        model=f"openai/{model}", api_base=server.base_url, api_key="sk-fake", **kwargs
    )


def test_default_judgment_through_litellm(fake_llm: FakeOpenAIServer) -> None:
    response = _complete(fake_llm)

    content = response.choices[0].message.content
    judgment = json.loads(content)
    assert set(judgment) == {"label", "confidence", "reasoning"}
    assert judgment["label"] in LABELS
    assert 0.0 <= judgment["confidence"] <= 1.0
    assert judgment == fake_llm.judgment_for(MODEL, MESSAGES[-1]["content"])
    assert response.choices[0].finish_reason == "stop"
    assert response.model.endswith(MODEL)
    assert response.usage.prompt_tokens == sum(len(m["content"].split()) for m in MESSAGES)
    assert response.usage.completion_tokens == len(content.split())
    assert response.usage.total_tokens == (
        response.usage.prompt_tokens + response.usage.completion_tokens
    )

    # Same post, same model: same answer.
    assert _complete(fake_llm).choices[0].message.content == content

    calls = fake_llm.calls(MODEL)
    assert len(calls) == 2
    call = calls[0]
    assert call.path == "/v1/chat/completions"  # LiteLLM appends /chat/completions to api_base
    assert call.model == MODEL  # the openai/ prefix is stripped by LiteLLM
    assert call.messages == MESSAGES
    assert call.has_authorization
    assert "authorization" not in call.headers
    assert "observability dashboard" in call.last_user_text
    assert "SignalOps" in call.prompt_text
    assert call.outcome == "ok"
    assert fake_llm.calls("openai/" + MODEL) == calls
    assert fake_llm.calls("other-model") == []


def test_judgments_are_deterministic_and_models_disagree(fake_llm: FakeOpenAIServer) -> None:
    posts = [f"post number {i} about widgets" for i in range(400)]
    a = [fake_llm.judgment_for("judge-a", p)["label"] for p in posts]
    a_again = [fake_llm.judgment_for("openai/judge-a", p)["label"] for p in posts]
    b = [fake_llm.judgment_for("judge-b", p)["label"] for p in posts]
    assert a == a_again
    assert set(a) == set(LABELS)
    disagreement = sum(x != y for x, y in zip(a, b, strict=True)) / len(posts)
    assert 0.2 < disagreement < 0.6  # each model flips ~25% of the shared base labels

    # An explicit marker pins the label for every model.
    for model in ("judge-a", "judge-b"):
        assert fake_llm.judgment_for(model, "spam <<label:irrelevant>>")["label"] == "irrelevant"

    # Per-model overrides.
    fake_llm.set_behavior("judge-b", disagreement=0.0)
    base = [FakeOpenAIServer.base_label(p) for p in posts]
    assert [fake_llm.judgment_for("judge-b", p)["label"] for p in posts] == base
    fake_llm.set_behavior("judge-c", label="maybe", confidence=0.5)
    assert fake_llm.judgment_for("judge-c", posts[0])["label"] == "maybe"
    assert fake_llm.judgment_for("judge-c", posts[0])["confidence"] == 0.5


def test_500_raises_internal_server_error(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior(MODEL, status=500)
    with pytest.raises(InternalServerError):
        _complete(fake_llm)
    assert fake_llm.call_count(MODEL) == 1  # num_retries=0: no SDK retry either
    assert fake_llm.last_call().outcome == "error:500"
    # Other models are unaffected.
    json.loads(_complete(fake_llm, model="healthy").choices[0].message.content)


def test_429_raises_rate_limit_error(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior(MODEL, status=429, retry_after=1)
    with pytest.raises(RateLimitError):
        _complete(fake_llm)
    assert fake_llm.call_count() == 1


def test_fail_times_then_success_with_retries(fake_llm: FakeOpenAIServer) -> None:
    # A tiny Retry-After keeps the OpenAI SDK's retry back-off (~0.5 s, 1 s, ...) out of the test.
    fake_llm.set_behavior(MODEL, status=429, fail_times=2, retry_after=0.01)
    response = _complete(fake_llm, num_retries=2)
    assert json.loads(response.choices[0].message.content)["label"] in LABELS
    assert [c.outcome for c in fake_llm.calls()] == ["error:429", "error:429", "ok"]
    # The counter does not restart by itself: later calls keep succeeding.
    _complete(fake_llm)
    assert fake_llm.call_count() == 4


def test_timeout_raises_litellm_timeout(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior(MODEL, timeout=True)
    started = time.monotonic()
    with pytest.raises(Timeout):
        _complete(fake_llm, timeout=0.5)
    assert time.monotonic() - started < 3
    assert fake_llm.call_count() == 1
    # The held request is released by reset() (the fixture does it too).
    fake_llm.reset()


def test_malformed_and_scripted_content_returned_as_is(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior(MODEL, malformed=True)
    content = _complete(fake_llm).choices[0].message.content
    assert content.startswith("Sure!")
    assert "```json" in content
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)
    with pytest.raises(json.JSONDecodeError):  # still broken once the fence is stripped
        json.loads(content.split("```json", 1)[1].split("```", 1)[0])

    fake_llm.set_behavior(MODEL, malformed="fenced")
    content = _complete(fake_llm).choices[0].message.content
    inner = json.loads(content.split("```json", 1)[1].split("```", 1)[0])
    assert inner["label"] in LABELS

    fake_llm.set_behavior(MODEL, malformed="prose")
    assert "{" not in _complete(fake_llm).choices[0].message.content

    fake_llm.set_content(MODEL, "totally scripted")
    assert _complete(fake_llm).choices[0].message.content == "totally scripted"


def test_global_behavior_and_model_override(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior(None, content="global")
    fake_llm.set_behavior("special", content="special")
    assert _complete(fake_llm, model="anything").choices[0].message.content == "global"
    assert _complete(fake_llm, model="special").choices[0].message.content == "special"
    fake_llm.clear_behavior(None)
    assert json.loads(_complete(fake_llm, model="anything").choices[0].message.content)


def test_streaming(fake_llm: FakeOpenAIServer) -> None:
    chunks = _complete(fake_llm, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert json.loads(text) == fake_llm.judgment_for(MODEL, MESSAGES[-1]["content"])


def test_acompletion_runs_concurrently(fake_llm: FakeOpenAIServer) -> None:
    n, latency_ms = 16, 300
    fake_llm.set_behavior(MODEL, latency_ms=latency_ms)

    async def one(i: int) -> str:
        response = await litellm.acompletion(
            model=f"openai/{MODEL}",
            api_base=fake_llm.base_url,
            api_key="sk-fake",
            messages=[{"role": "user", "content": f"post {i}"}],
            num_retries=0,
        )
        return str(response.choices[0].message.content)

    async def main() -> tuple[list[str], float]:
        await one(-1)  # warm-up: LiteLLM lazily imports a lot on the first async call
        started = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        return list(results), time.monotonic() - started

    results, elapsed = asyncio.run(main())
    assert len(results) == n
    assert all(json.loads(r)["label"] in LABELS for r in results)
    assert elapsed < n * latency_ms / 1000 / 3  # serial would take n x latency
    assert fake_llm.call_count(MODEL) == n + 1


def test_fixture_starts_clean(fake_llm: FakeOpenAIServer) -> None:
    assert fake_llm.running
    assert fake_llm.calls() == []
    assert fake_llm.behavior_for(MODEL).content is None
    assert fake_llm.base_url == f"http://127.0.0.1:{fake_llm.port}/v1"


def test_keep_alive_and_errors_over_raw_http(fake_llm: FakeOpenAIServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake_llm.port, timeout=5)
    try:
        body = json.dumps({"model": "raw", "messages": [{"role": "user", "content": "hi"}]})
        for path in ("/v1/chat/completions", "/chat/completions"):  # same socket twice
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            assert response.status == 200
            assert int(response.headers["Content-Length"]) == len(payload)
            data = json.loads(payload)
            assert data["object"] == "chat.completion"
            assert data["model"] == "raw"
            assert data["choices"][0]["message"]["role"] == "assistant"

        fake_llm.set_behavior("raw", status=429, retry_after=2)
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        error = json.loads(response.read())
        assert response.status == 429
        assert response.headers["Retry-After"] == "2"
        assert error["error"]["type"] == "rate_limit_error"

        conn.request("POST", "/v1/nope", body)
        response = conn.getresponse()
        response.read()
        assert response.status == 404

        conn.request("GET", "/v1/models")
        response = conn.getresponse()
        assert "raw" in {m["id"] for m in json.loads(response.read())["data"]}
    finally:
        conn.close()
    assert not fake_llm.calls()[0].has_authorization
    assert [c.path for c in fake_llm.calls()][:2] == ["/v1/chat/completions", "/chat/completions"]


@pytest.fixture
def private_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def test_stop_releases_held_requests(private_server: FakeOpenAIServer) -> None:
    private_server.set_behavior(None, timeout=True, hold_s=60)
    outcome: list[str] = []

    def call() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", private_server.port, timeout=30)
        try:
            conn.request("POST", "/v1/chat/completions", json.dumps({"model": "m"}))
            conn.getresponse().read()
            outcome.append("answered")
        except (OSError, http.client.HTTPException) as exc:
            outcome.append(type(exc).__name__)
        finally:
            conn.close()

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not private_server.calls() and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    private_server.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 3
    assert outcome and outcome[0] != "answered"
    assert not private_server.running


def test_chunked_request_body_and_restart(private_server: FakeOpenAIServer) -> None:
    def chunked_post() -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", private_server.port, timeout=5)
        try:
            body = json.dumps({"model": "chunky", "messages": [{"role": "user", "content": "hi"}]})
            half = len(body) // 2
            conn.request(
                "POST",
                "/v1/chat/completions",
                iter([body[:half].encode(), body[half:].encode()]),
                {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                encode_chunked=True,
            )
            response = conn.getresponse()
            assert response.status == 200
            return dict(json.loads(response.read()))
        finally:
            conn.close()

    assert chunked_post()["model"] == "chunky"
    private_server.stop()
    private_server.set_behavior(None, latency_ms=50)
    private_server.start()  # a new random port; latency still applies after a restart
    started = time.monotonic()
    assert chunked_post()["model"] == "chunky"
    assert time.monotonic() - started >= 0.05
    assert private_server.call_count("chunky") == 2
