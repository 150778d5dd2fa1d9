"""Faults stay bounded, through real LiteLLM to the fake server: Retry-After honoured, jittered
and capped backoff, a hang costs at most the timeout and blocks nothing, and a deadline spans
every attempt."""

from __future__ import annotations

import asyncio
import time

from signalops_assets.llm.gateway import LLMGateway, LLMRequest, LLMResponse
from signalops_assets.llm.loop import run_async
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer


def req(model: str, i: int = 0, **kw: object) -> LLMRequest:
    return LLMRequest(model=model, messages=[{"role": "user", "content": f"post {i}"}], **kw)  # type: ignore[arg-type]


def gw(server: FakeOpenAIServer, **kw: object) -> LLMGateway:
    return LLMGateway(api_base=server.base_url, api_key="sk-test-only", **kw)  # type: ignore[arg-type]


def test_429_retry_after_is_honoured(fake_llm: FakeOpenAIServer) -> None:
    # Our own backoff would wait 5-10 s; the provider asks for 0.4 s.
    fake_llm.set_behavior("limited", status=429, retry_after=0.4, fail_times=1)
    response = gw(fake_llm, num_retries=1, backoff_s=10).complete(req("openai/limited"))
    assert response.ok and response.attempts == 2
    first, second = (c.received_at for c in fake_llm.calls("limited"))
    assert 0.35 <= second - first < 3


def test_backoff_is_jittered_and_capped() -> None:
    gateway = LLMGateway(backoff_s=1.0, max_backoff_s=3.0)
    first = [gateway._delay(0) for _ in range(200)]
    assert all(0.5 <= d <= 1.0 for d in first) and len(set(first)) > 150
    assert all(1.5 <= gateway._delay(6) <= 3.0 for _ in range(50))  # 64 s capped at 3


def test_hang_costs_at_most_the_timeout_and_blocks_nothing(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior("stuck", timeout=True, hold_s=20)
    requests = [req("openai/stuck", timeout_s=0.5)] + [req("openai/quick", i) for i in range(6)]
    gateway = gw(fake_llm, num_retries=0)
    gateway.warm()
    started = time.perf_counter()

    async def together() -> list[LLMResponse]:
        return list(await asyncio.gather(*(gateway.acomplete(r) for r in requests)))

    stuck, *quick = run_async(together())
    elapsed = time.perf_counter() - started
    # Held for 20 s by the server, the hung call gives up at its 0.5 s timeout; the others,
    # in flight at the same time, finish before it does.
    assert not stuck.ok and "Timeout" in (stuck.error or "") and stuck.latency_ms < 2500
    assert all(r.ok for r in quick) and max(r.latency_ms for r in quick) < stuck.latency_ms
    assert elapsed < 5


def test_deadline_spans_retries_and_backoff(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_behavior("down", status=500)
    started = time.perf_counter()
    response = gw(fake_llm, num_retries=5, backoff_s=0.2).complete(
        req("openai/down", deadline_s=0.5, fallbacks=("openai/down-too",))
    )
    # Without the deadline: 6 attempts with 0.2 s doubling backoff per model, over 6 s. The
    # gateway's own clock says when it gave up; the wall clock also holds the event loop's
    # start and teardown, slow on a loaded machine, so its bound is looser.
    assert response.latency_ms < 1000
    assert time.perf_counter() - started < 3
    assert not response.ok and response.error == "latency budget exceeded: > 500 ms"
    assert 1 <= fake_llm.call_count("down") < 6 and fake_llm.call_count("down-too") == 0
