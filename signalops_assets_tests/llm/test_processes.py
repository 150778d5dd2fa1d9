"""LLM calls spread over forked worker processes (llm.processes): every post judged once,
keys never on the pipe, a dead worker's calls stored as failures, small runs in-process.
Real LiteLLM in the workers against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from signalops_assets import streaming
from signalops_assets.db.models import Judgment
from signalops_assets.db.session import session_scope
from signalops_assets.judging.judges import LLMPromptJudge
from signalops_assets.judging.service import judge_pending
from signalops_assets.llm.gateway import LLMGateway, LLMRequest, LLMResponse
from signalops_assets.llm.processes import WorkerPool, WorkerSettings, workers
from signalops_assets_tests.factories import seed_posts
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer
from signalops_assets_tests.fakes.otlp_receiver import OTLPReceiver

MODEL = "openai/judge-p"


@pytest.fixture
def env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")


@pytest.fixture
def small_spread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "SPREAD_FROM", 20)


def texts(n: int) -> list[str]:
    return [f"post {i}: our p99 latency doubled after the deploy" for i in range(n)]


def judged(engine: Engine) -> tuple[int, int, int]:
    """(current judgments, distinct posts among them, current failures)."""
    with session_scope(engine) as session:
        current = select(Judgment).where(Judgment.superseded.is_(False)).subquery()
        rows = session.scalar(select(func.count()).select_from(current)) or 0
        posts = session.scalar(select(func.count(func.distinct(current.c.post_id)))) or 0
        failed = session.scalar(
            select(func.count()).select_from(current).where(current.c.error.is_not(None))
        )
    return rows, posts, failed or 0


def test_a_big_run_makes_its_calls_in_worker_processes(
    engine: Engine, tmp_path: Path, fake_llm: FakeOpenAIServer, env_key: None, small_spread: None
) -> None:
    cfg = seed_posts(engine, tmp_path, texts(60)).project
    fake_llm.set_behavior(None, latency_ms=20)
    judge = LLMPromptJudge(LLMGateway(api_base=fake_llm.base_url, num_retries=0), cfg, MODEL)

    summary = judge_pending(engine, cfg.project_id, judge, max_concurrency=8, processes=2)

    assert summary.posts_judged == 60 and summary.failures == 0
    assert summary.calls_in_workers == 60  # every call, none in this process
    assert judged(engine) == (60, 60, 0)
    calls = fake_llm.calls("judge-p")
    assert len(calls) == 60 and all(c.has_authorization for c in calls)
    # The answers' costs and latencies came back across the pipe.
    assert all(lat > 0 for lat in summary.latencies_ms)


def test_a_small_run_and_an_explicit_key_stay_in_this_process(
    sqlite_engine: Engine,
    tmp_path: Path,
    fake_llm: FakeOpenAIServer,
    env_key: None,
    small_spread: None,
) -> None:
    cfg = seed_posts(sqlite_engine, tmp_path, texts(10)).project  # under SPREAD_FROM: no fork
    judge = LLMPromptJudge(LLMGateway(api_base=fake_llm.base_url), cfg, MODEL)
    assert judge_pending(sqlite_engine, cfg.project_id, judge, processes=2).calls_in_workers == 0

    seed_posts(sqlite_engine, tmp_path, texts(40))  # 30 more
    keyed = LLMGateway(api_base=fake_llm.base_url, api_key="sk-explicit-test-key")
    judge = LLMPromptJudge(keyed, cfg, MODEL)
    summary = judge_pending(sqlite_engine, cfg.project_id, judge, processes=2)
    assert summary.posts_judged == 30 and summary.calls_in_workers == 0  # a key never travels
    assert not any("key" in f.name for f in fields(WorkerSettings))


def test_a_worker_that_dies_answers_its_calls_with_failures(
    fake_llm: FakeOpenAIServer, env_key: None
) -> None:
    fake_llm.set_behavior("held", timeout=True, hold_s=30)
    gateway = LLMGateway(api_base=fake_llm.base_url, num_retries=0, timeout_s=60)

    def request(model: str) -> LLMRequest:
        return LLMRequest(model=f"openai/{model}", messages=[{"role": "user", "content": "hi"}])

    async def run(pool: WorkerPool) -> tuple[list[LLMResponse], LLMResponse, float]:
        async with pool:
            held = [asyncio.create_task(gateway.acomplete(request("held"))) for _ in range(4)]
            while len(fake_llm.calls("held")) < 4:  # both workers hold two calls each
                await asyncio.sleep(0.02)
            started = time.monotonic()
            os.kill(pool.pids[0], signal.SIGKILL)
            _ = await asyncio.wait(held, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            waited = time.monotonic() - started
            after = await gateway.acomplete(request("fine"))  # the live worker takes it
            fake_llm.release()  # the other worker's held calls drop: failures too
            return [t.result() for t in await _all(held)], after, waited

    with workers(2) as pool:
        assert pool is not None
        responses, after, waited = asyncio.run(run(pool))
    dead = [r for r in responses if r.error and "worker process exited" in r.error]
    assert len(dead) == 2 and waited < 5  # answered when the worker died, not at the timeout
    assert all(not r.ok for r in responses)  # the released ones: the connection dropped
    assert after.ok and pool.calls_sent == 5
    assert pool.exit_codes == [-signal.SIGKILL, 0]


async def _all(tasks: list[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    await asyncio.wait(tasks, timeout=30)
    return tasks


def test_no_fork_under_a_running_loop() -> None:
    async def inside() -> object:
        with workers(2) as pool:
            return pool

    assert asyncio.run(inside()) is None


def test_traced_run_with_workers_has_one_span_pair_per_post_and_no_key(
    sqlite_engine: Engine,
    tmp_path: Path,
    fake_llm: FakeOpenAIServer,
    otlp_receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
    small_spread: None,
) -> None:
    """Langfuse on (the real SDK, to a local OTLP receiver) and the calls in workers: the spans
    are opened and closed in this process around each worker's call, carry its usage, and
    reach Langfuse once each; a worker (whose tracer is a no-op) sends none of its own."""
    from signalops_assets.llm.tracing import get_tracer

    for name, value in otlp_receiver.env().items():
        monkeypatch.setenv(name, value)
    secret = "sk-provider-secret-never-traced"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    cfg = seed_posts(sqlite_engine, tmp_path, texts(30)).project
    fake_llm.set_behavior(None, latency_ms=10)
    judge = LLMPromptJudge(LLMGateway(api_base=fake_llm.base_url, num_retries=0), cfg, MODEL)

    summary = judge_pending(sqlite_engine, cfg.project_id, judge, max_concurrency=6, processes=2)
    get_tracer().flush()

    assert summary.posts_judged == 30 and summary.calls_in_workers == 30
    judges = {s["span_id"]: s for s in otlp_receiver.spans("judge_relevance")}
    generations = [
        s
        for s in otlp_receiver.spans()
        if s["attributes"].get("langfuse.observation.type") == "generation"
    ]
    assert len(judges) == 30 and len(generations) == 30
    for gen in generations:
        assert gen["parent_span_id"] in judges
        usage = json.loads(gen["attributes"]["langfuse.observation.usage_details"])
        assert usage["input"] > 0 and usage["output"] > 0
    assert secret.encode() not in b"".join(r.body for r in otlp_receiver.requests)
    with session_scope(sqlite_engine) as session:
        trace_ids = list(session.scalars(select(Judgment.trace_id)))
    assert len(set(trace_ids)) == 30 and None not in trace_ids
