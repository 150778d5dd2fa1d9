"""Judging throughput against a fake provider with 200 ms latency.

baseline: the seed's sequential loop (litellm.completion one post at a time), on 100 posts.
reference: bare litellm.acompletion under an asyncio semaphore of 32, on 2,000 posts.
ours: the gateway (retries, fallbacks, cost, tracing hooks) via judge_pending's path, at
concurrency 32 on 2,000 posts, with the default configuration (every call in this process).
ours + workers: the same, with the gateway's worker processes on (SIGNALOPS_LLM_WORKERS=auto:
one per core), started before the timer; their start-up time is printed on its own line.
The limit is 32 / 0.2 s = 160 posts/s. The fake provider runs in its own process, as a real
provider would (in this process its HTTP threads would compete with the client for the GIL and
understate every figure alike); BENCH_SERVER_INPROC=1 puts it back in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
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


ROOT = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = """
import sys
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer
with FakeOpenAIServer() as server:
    server.set_behavior(None, latency_ms=int(sys.argv[1]))
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
"""


@contextlib.contextmanager
def fake_provider() -> Iterator[str]:
    """The fake OpenAI-compatible server's base URL, 200 ms per call."""
    if os.environ.get("BENCH_SERVER_INPROC") == "1":
        with FakeOpenAIServer() as server:
            server.set_behavior(None, latency_ms=LATENCY_MS)
            yield server.base_url
        return
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, str(LATENCY_MS)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        base_url = child.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise SystemExit("the fake provider did not start")
        yield base_url
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


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


def baseline(base_url: str, project: object) -> float:
    litellm = get_litellm()
    items = posts(N_BASELINE)
    started = time.perf_counter()
    for post in items:
        litellm.completion(
            model=MODEL,
            messages=judge_messages(project, post),  # type: ignore[arg-type]
            api_base=base_url,
            api_key="sk-bench",
        )
    return len(items) / (time.perf_counter() - started)


def bare(base_url: str, project: object) -> float:
    litellm = get_litellm()
    items = posts(N_OURS)

    async def run() -> None:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(post: PostInput) -> None:
            async with semaphore:
                await litellm.acompletion(
                    model=MODEL,
                    messages=judge_messages(project, post),  # type: ignore[arg-type]
                    api_base=base_url,
                    api_key="sk-bench",
                )

        await asyncio.gather(*(one(p) for p in items))

    started = time.perf_counter()
    run_async(run())
    return len(items) / (time.perf_counter() - started)


def ours(base_url: str, project: object, workers: int = 0) -> float:
    gateway = LLMGateway(api_base=base_url, api_key="sk-bench", worker_processes=workers)
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
    with fake_provider() as base_url:
        base = baseline(base_url, project)
        ref = bare(base_url, project)
        mine = ours(base_url, project)
        n_workers = default_processes_auto()
        pooled = ours(base_url, project, n_workers) if n_workers else None
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
