"""Judging throughput against a fake provider with 200 ms latency.

baseline: the seed's sequential loop (litellm.completion one post at a time), on 100 posts.
reference: bare litellm.acompletion under an asyncio semaphore of 32, on 2,000 posts.
ours: the gateway (retries, fallbacks, cost, tracing hooks) via judge_pending's path, at
concurrency 32 on 2,000 posts, with the default configuration (every call in this process).
ours + workers: the same, with the gateway's worker processes on (SIGNALOPS_LLM_WORKERS=auto:
one per core), started before the timer; their start-up time is printed on its own line.
The limit is 32 / 0.2 s = 160 posts/s. The fake server runs in this process, as in the tests.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from signalops_assets.config import load_project_config
from signalops_assets.judging.judges import LLMPromptJudge
from signalops_assets.judging.prompts import PostInput, judge_messages
from signalops_assets.llm.gateway import LLMGateway, run_async
from signalops_assets.llm.litellm_setup import get_litellm
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

LATENCY_MS = 200
CONCURRENCY = 32
N_BASELINE = int(os.environ.get("BENCH_BASELINE_POSTS", "100"))
N_OURS = int(os.environ.get("BENCH_POSTS", "2000"))
MODEL = "openai/bench-judge"


def posts(n: int) -> list[PostInput]:
    return [
        PostInput(
            i,
            f"x:{i}",
            f"@user{i}",
            "SRE at a startup",
            f"post {i}: our p99 latency spiked again, any tracing tool?",
        )
        for i in range(n)
    ]


def baseline(server: FakeOpenAIServer, project: object) -> float:
    litellm = get_litellm()
    items = posts(N_BASELINE)
    started = time.perf_counter()
    for post in items:
        litellm.completion(
            model=MODEL,
            messages=judge_messages(project, post),  # type: ignore[arg-type]
            api_base=server.base_url,
            api_key="sk-bench",
        )
    return len(items) / (time.perf_counter() - started)


def bare(server: FakeOpenAIServer, project: object) -> float:
    litellm = get_litellm()
    items = posts(N_OURS)

    async def run() -> None:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(post: PostInput) -> None:
            async with semaphore:
                await litellm.acompletion(
                    model=MODEL,
                    messages=judge_messages(project, post),  # type: ignore[arg-type]
                    api_base=server.base_url,
                    api_key="sk-bench",
                )

        await asyncio.gather(*(one(p) for p in items))

    started = time.perf_counter()
    run_async(run())
    return len(items) / (time.perf_counter() - started)


def ours(server: FakeOpenAIServer, project: object, workers: int = 0) -> float:
    gateway = LLMGateway(api_base=server.base_url, api_key="sk-bench", worker_processes=workers)
    if workers:
        started = time.perf_counter()
        ready = gateway.start_workers()
        print(
            f"worker processes: {workers}, ready={ready} after "
            f"{time.perf_counter() - started:.1f} s (not in the timing below)",
            flush=True,
        )
    judge = LLMPromptJudge(gateway, project, MODEL)  # type: ignore[arg-type]
    items = posts(N_OURS)

    async def run() -> int:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(post: PostInput) -> int:
            async with semaphore:
                return sum(1 for j in await judge.ajudge(post) if not j.error)

        return sum(await asyncio.gather(*(one(p) for p in items)))

    started = time.perf_counter()
    ok = run_async(run())
    rate = len(items) / (time.perf_counter() - started)
    assert ok == len(items), f"{len(items) - ok} judgments failed"
    return float(rate)


def main() -> None:
    project = load_project_config(
        Path(__file__).resolve().parents[1] / "data/projects/spectra.yaml"
    )
    limit = CONCURRENCY / (LATENCY_MS / 1000)
    with FakeOpenAIServer() as server:
        server.set_behavior(None, latency_ms=LATENCY_MS)
        base = baseline(server, project)
        ref = bare(server, project)
        mine = ours(server, project)
        n_workers = default_processes_auto()
        pooled = ours(server, project, n_workers) if n_workers else None
    print(f"baseline (sequential, {N_BASELINE} posts): {base:8.1f} posts/s")
    print(
        f"bare litellm.acompletion, c={CONCURRENCY}:  {ref:8.1f} posts/s  "
        f"= {ref / limit:.2f} of limit, {ref / base:.1f}x baseline"
    )
    print(
        f"ours (gateway + judge), c={CONCURRENCY}:    {mine:8.1f} posts/s  "
        f"= {mine / limit:.2f} of limit {limit:.0f}/s, {mine / base:.1f}x baseline "
        f"(targets: >= 0.85 of limit, >= 25x)"
    )
    if pooled is not None:
        print(
            f"ours + {n_workers} workers, c={CONCURRENCY}:     {pooled:8.1f} posts/s  "
            f"= {pooled / limit:.2f} of limit {limit:.0f}/s, {pooled / base:.1f}x baseline"
        )


def default_processes_auto() -> int:
    cores = os.cpu_count() or 1
    return min(cores, 4) if cores > 1 else 0


if __name__ == "__main__":
    main()
