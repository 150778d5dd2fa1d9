"""The gateway's fast paths: cost without a second price lookup, and the optional worker
processes (real forkserver children calling the local fake server through LiteLLM)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from signalops_assets.llm import workers
from signalops_assets.llm.gateway import LLMGateway, LLMRequest
from signalops_assets.llm.litellm_setup import token_prices
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

MSG = [{"role": "user", "content": "<post>\nneed distributed tracing\n</post>"}]


def request(model: str, i: int = 0, **kw: Any) -> LLMRequest:
    return LLMRequest(
        model=model, messages=[{"role": "user", "content": f"<post>{i}</post>"}], **kw
    )


def test_cost_known_unknown_and_cached_price_lookup(fake_llm: FakeOpenAIServer) -> None:
    gw = LLMGateway(api_base=fake_llm.base_url, api_key="sk-test", worker_processes=0)
    known = gw.complete(LLMRequest(model="openai/gpt-4o-mini", messages=MSG))
    assert known.cost_usd is not None and known.cost_usd > 0
    assert gw.complete(LLMRequest(model="openai/house-model-7", messages=MSG)).cost_usd is None
    # The fallback price table: one LiteLLM lookup per model, misses included.
    token_prices.cache_clear()
    assert token_prices("openai/house-model-7") is None
    assert token_prices("openai/house-model-7") is None
    prices = token_prices("openai/gpt-4o-mini")
    assert prices is not None and prices[0] > 0 and prices[1] > 0
    assert token_prices.cache_info().hits == 1 and token_prices.cache_info().misses == 2


def test_workers_are_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNALOPS_LLM_WORKERS", raising=False)
    assert LLMGateway().worker_processes == 0
    assert not LLMGateway().start_workers()
    monkeypatch.setenv("SIGNALOPS_LLM_WORKERS", "3")
    assert LLMGateway().worker_processes == 3
    monkeypatch.setenv("SIGNALOPS_LLM_WORKERS", "auto")
    assert LLMGateway().worker_processes == min(os.cpu_count() or 1, 4) * (
        (os.cpu_count() or 1) > 1
    )


@contextmanager
def own_pool(monkeypatch: pytest.MonkeyPatch, processes: int = 2) -> Iterator[workers.WorkerPool]:
    """A pool for this test only, so a test that kills a worker breaks nobody else's."""
    pool = workers.WorkerPool(processes)
    monkeypatch.setattr(workers, "_pool", pool)
    try:
        yield pool
    finally:
        pool.close()


class RecordingTracer:
    enabled = True

    def __init__(self) -> None:
        self.generations: list[dict[str, Any]] = []

    @contextmanager
    def generation(self, name: str, **kw: Any) -> Iterator[Any]:
        record: dict[str, Any] = {"name": name, **kw}
        self.generations.append(record)

        class Handle:
            def update(self, **fields: Any) -> None:
                record.update(fields)

        yield Handle()


@pytest.mark.slow
def test_worker_processes_serve_calls_with_retries_fallbacks_and_tracing(
    fake_llm: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracer = RecordingTracer()
    gw = LLMGateway(
        api_base=fake_llm.base_url,
        api_key="sk-test-secret",
        backoff_s=0.01,
        tracer=tracer,
        worker_processes=2,
    )
    with own_pool(monkeypatch) as pool:
        assert gw.start_workers(timeout_s=120)
        fake_llm.set_behavior("flaky", status=500, fail_times=2)
        fake_llm.set_behavior("limited", status=429, retry_after=0)
        batch = [request("openai/judge-a", i) for i in range(40)]
        batch += [request("openai/flaky"), request("openai/limited", fallbacks=["openai/backup"])]
        responses = gw.batch(batch, max_concurrency=8)
        assert pool.served == len(batch)  # every call was answered by a worker
    assert all(r.ok for r in responses)
    assert [r.text for r in responses[:40]] == [
        gw.complete(request("openai/judge-a", i)).text for i in range(40)
    ]  # same answers, same order as in-process calls
    flaky, limited = responses[40:]
    assert flaky.attempts == 3 and fake_llm.call_count("flaky") == 3
    assert limited.model == "openai/backup" and any("RateLimitError" in e for e in limited.errors)
    assert fake_llm.last_call("judge-a").has_authorization
    # Tracing stays in this process, one generation per call, updated with the result.
    traced = [g for g in tracer.generations if g["model"] == "openai/judge-a"]
    assert len(traced) == 80 and all(g["output"] and g["error"] is None for g in traced)


@pytest.mark.slow
def test_cancelled_call_is_cancelled_in_the_worker_and_a_dead_worker_falls_back(
    fake_llm: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = LLMGateway(api_base=fake_llm.base_url, api_key="sk-test", worker_processes=1)
    with own_pool(monkeypatch, processes=1) as pool:
        assert gw.start_workers(timeout_s=120)
        fake_llm.set_behavior("slow", timeout=True)

        async def budget_runs_out() -> None:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(gw.acomplete(request("openai/slow")), timeout=0.5)
            assert all(not w.pending for w in pool._all)
            assert (await gw.acomplete(request("openai/judge-a"))).ok  # the worker still serves

        asyncio.run(budget_runs_out())
        fake_llm.release()
        served = pool.served
        pool._all[0].process.kill()
        pool._all[0].process.join(10)
        assert (gw.batch([request("openai/judge-a", 1)], 1)[0]).ok
        assert pool.state == "broken" and pool.served == served  # answered in-process


@pytest.mark.slow
def test_worker_processes_see_environment_changes(
    fake_llm: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No api_key given: LiteLLM reads OPENAI_API_KEY from the worker's environment at call time.
    gw = LLMGateway(api_base=fake_llm.base_url, worker_processes=1)
    with own_pool(monkeypatch, processes=1) as pool:
        assert gw.start_workers(timeout_s=120)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
        assert gw.batch([request("openai/judge-a")], 1)[0].ok and pool.served == 1
        monkeypatch.delenv("OPENAI_API_KEY")
        failed = gw.batch([request("openai/judge-b")], 1)[0]
        assert not failed.ok and pool.served == 2 and fake_llm.call_count("judge-b") == 0


@pytest.mark.slow
def test_exit_with_workers_is_quiet(fake_llm: FakeOpenAIServer) -> None:
    code = (
        "from signalops_assets.llm.gateway import LLMGateway, LLMRequest\n"
        f"gw = LLMGateway(api_base={fake_llm.base_url!r}, api_key='sk-x', worker_processes=2)\n"
        "assert gw.start_workers(120)\n"
        "reqs = [LLMRequest(model='openai/judge-a', messages=[{'role': 'user', 'content': str(i)}])"
        " for i in range(20)]\n"
        "print(all(r.ok for r in gw.batch(reqs, 8)))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert "Event loop is closed" not in result.stderr and "Traceback" not in result.stderr
