"""Judging throughput and memory against a fake OpenAI-compatible provider (200 ms per call).

baseline: the seed's sequential loop (litellm.completion one post at a time), on 100 posts.
bare: litellm.acompletion under an asyncio semaphore of 32, on BENCH_POSTS posts (5,000).
ours: `judge_pending` itself (the streaming engine: paged reads from SQLite, 32 in flight, one
writer committing batches) on the same posts in a fresh database.
ours + faults: the same, the provider failing 20% of calls (500, 429, truncated JSON, a label
outside the schema, hangs cut by a 2 s timeout), num_retries 2: every post must end with exactly
one current judgment; throughput is compared with the fault-free run.
memory: BENCH_MEMORY_POSTS pending posts (100,000) judged at 0 ms latency, c=64: the growth of
peak RSS from just before the run (posts inserted, LiteLLM warm) to its end.
"ours" runs with llm.processes = BENCH_PROCESSES (default: one more than the cores; a worker's
loop waits on the network about half the time): the calls made by forked worker processes
(llm/processes.py); "processes=1" is the same engine with every call in-process.
The judge is BENCH_MODEL (openai/gpt-4o-mini: a model in LiteLLM's price map, like a production
judge). "unpriced" repeats "ours" with a model name LiteLLM has no price for: LiteLLM then
searches its price generalizations on every call, CPU a priced model does not cost.
The limit is 32 / 0.2 s = 160 posts/s. The fake provider runs in its own process, as a real
provider would; BENCH_SERVER_INPROC=1 puts it in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from sqlalchemy import Engine, func, insert, select

from signalops_assets.config import ProjectConfig, load_project_config
from signalops_assets.db.migrate import ensure_schema
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import make_engine, session_scope
from signalops_assets.judging.judges import LLMPromptJudge
from signalops_assets.judging.prompts import PostInput, judge_messages
from signalops_assets.judging.service import JudgeRunSummary, judge_pending
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.litellm_setup import get_litellm, warm_litellm
from signalops_assets.llm.loop import run_async
from signalops_assets.posts import ensure_project
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

LATENCY_MS = 200
CONCURRENCY = 32
N_BASELINE = int(os.environ.get("BENCH_BASELINE_POSTS", "100"))
N_OURS = int(os.environ.get("BENCH_POSTS", "5000"))
N_MEMORY = int(os.environ.get("BENCH_MEMORY_POSTS", "100000"))
FAULT_RATE = 0.2
TIMEOUT_S, NUM_RETRIES, BACKOFF_S = 2.0, 2, 0.1  # "ours"'s gateway
PROCESSES = int(os.environ.get("BENCH_PROCESSES", str((os.cpu_count() or 1) + 1)))
MODEL = os.environ.get("BENCH_MODEL", "openai/gpt-4o-mini")  # priced; the fake ignores it
UNPRICED = "openai/bench-judge"


ROOT = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = """
import sys
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer
with FakeOpenAIServer() as server:
    server.set_behavior(
        None, latency_ms=int(sys.argv[1]), fault_rate=float(sys.argv[2]) or None, hold_s=10
    )
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
"""


SERVER_PIDS: list[int] = []


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) of this process and its reaped children, or of `pid`."""
    if pid is None:
        own, kids = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workers() -> list[int]:
    """This process's children other than the fake providers: the LLM worker processes."""
    kids: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with contextlib.suppress(OSError):
            kids += [int(p) for p in (task / "children").read_text().split()]
    return [pid for pid in kids if pid not in SERVER_PIDS]


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB: PSS splits the pages a fork still shares with its parent."""
    values = {"Rss:": 0, "Pss:": 0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, *rest = line.split()
            if name in values:
                values[name] = int(rest[0])
    return values["Rss:"], values["Pss:"]


@contextlib.contextmanager
def worker_memory(peak: dict[str, float]) -> Iterator[None]:
    """The largest RSS and PSS of any LLM worker process, sampled every 0.2 s."""
    import threading

    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            for pid in _workers():
                rss, pss = _memory_kb(pid)
                peak["rss"] = max(peak.get("rss", 0.0), rss / 1024)
                peak["pss"] = max(peak.get("pss", 0.0), pss / 1024)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _cpu_times() -> tuple[int, int]:
    """(all, stolen) jiffies of the machine: a VM's "steal" is CPU its hypervisor gave others."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0, 0
    return sum(values[:8]), values[7] if len(values) > 7 else 0


@contextlib.contextmanager
def measured(cpu: dict[str, float], n: int) -> Iterator[None]:
    """CPU ms per post of the run inside (ours with its reaped workers, and the provider's),
    and the share of the machine's CPU time stolen by its hypervisor meanwhile."""
    server = SERVER_PIDS[-1] if SERVER_PIDS else None
    mine, theirs = cpu_s(), cpu_s(server) if server else 0.0
    total, stolen = _cpu_times()
    yield
    cpu["client"] = (cpu_s() - mine) / n * 1000
    cpu["provider"] = ((cpu_s(server) - theirs) / n * 1000) if server else 0.0
    total_after, stolen_after = _cpu_times()
    cpu["steal"] = (stolen_after - stolen) / max(1, total_after - total)


@contextlib.contextmanager
def fake_provider(latency_ms: int = LATENCY_MS, fault_rate: float = 0.0) -> Iterator[str]:
    """The fake OpenAI-compatible server's base URL."""
    if os.environ.get("BENCH_SERVER_INPROC") == "1":
        with FakeOpenAIServer() as server:
            server.set_behavior(
                None, latency_ms=latency_ms, fault_rate=fault_rate or None, hold_s=10
            )
            yield server.base_url
        return
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, str(latency_ms), str(fault_rate)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    SERVER_PIDS.append(child.pid)
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


def database(project: ProjectConfig, n: int, root: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{root / name}.db")
    ensure_schema(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        ensure_project(session, project)
    for start in range(0, n, 10_000):
        rows = [
            {
                "project_id": project.project_id,
                "platform_id": f"x:{i}",
                "author": f"@user{i}",
                "author_bio": "SRE at a startup",
                "text": f"post {i}: our p99 latency spiked again, any tracing tool?",
                "created_at": now,
                "raw": {},
            }
            for i in range(start, min(n, start + 10_000))
        ]
        with session_scope(engine) as session:
            session.execute(insert(Post), rows)
    return engine


def ours(
    engine: Engine,
    base_url: str,
    project: ProjectConfig,
    concurrency: int = CONCURRENCY,
    processes: int = 1,
    model: str = MODEL,
) -> tuple[float, JudgeRunSummary]:
    # The key from the environment, as in production (a gateway given one keeps its calls
    # in-process: keys never travel to worker processes).
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    gateway = LLMGateway(
        api_base=base_url, timeout_s=TIMEOUT_S, num_retries=NUM_RETRIES, backoff_s=BACKOFF_S
    )
    judge = LLMPromptJudge(gateway, project, model)
    warm_litellm()  # judge_pending warms too; outside the timing like bare's first import
    started = time.perf_counter()
    summary = judge_pending(
        engine, project.project_id, judge, max_concurrency=concurrency, processes=processes
    )
    return summary.posts_judged / (time.perf_counter() - started), summary


def slot_bound_ratio() -> float:
    """The best throughput with faults over the best without, when C calls in flight bind:
    the fault-free slot time per post (L) over the expected slot time with the fake's fault
    mix (FAULTS, one fifth each). A 500 costs L and the mean first backoff, then a retry; a 429
    L and its 0.05 s Retry-After, then a retry; a hang the whole timeout, then a retry; a
    truncated or off-schema answer costs L and is stored as a failure (no retry)."""
    latency, share = LATENCY_MS / 1000, FAULT_RATE / 5
    retried = (latency + BACKOFF_S * 0.75) + (latency + 0.05) + TIMEOUT_S  # their own costs
    expected = 0.0  # with no retry left
    for _ in range(NUM_RETRIES + 1):
        expected = (1 - 3 * share) * latency + share * retried + 3 * share * expected
    return latency / expected


def outcomes(engine: Engine) -> tuple[int, int, int]:
    """(posts, posts with exactly one current judgment, current failures)."""
    with session_scope(engine) as session:
        posts = session.scalar(select(func.count()).select_from(Post)) or 0
        per_post = (
            select(Judgment.post_id, func.count().label("n"))
            .where(Judgment.superseded.is_(False))
            .group_by(Judgment.post_id)
            .subquery()
        )
        single = session.scalar(select(func.count()).where(per_post.c.n == 1)) or 0
        failed = session.scalar(
            select(func.count())
            .select_from(Judgment)
            .where(Judgment.superseded.is_(False), Judgment.error.is_not(None))
        )
    return posts, single, failed or 0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    project = load_project_config(
        Path(__file__).resolve().parents[1] / "data/projects/spectra.yaml"
    )
    limit = CONCURRENCY / (LATENCY_MS / 1000)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clean_db = database(project, N_OURS, root, "clean")
        single_db = database(project, N_OURS, root, "single")
        faulty_db = database(project, N_OURS, root, "faults")
        unpriced_db = database(project, N_OURS, root, "unpriced")
        cpu_bare: dict[str, float] = {}
        cpu_ours: dict[str, float] = {}
        with fake_provider() as base_url:
            base = baseline(base_url, project)
            with measured(cpu_bare, N_OURS):
                ref = bare(base_url, project)
            one, one_summary = ours(single_db, base_url, project, processes=1)
            with measured(cpu_ours, N_OURS):
                mine, summary = ours(clean_db, base_url, project, processes=PROCESSES)
            unpriced, _ = ours(unpriced_db, base_url, project, processes=PROCESSES, model=UNPRICED)
        with fake_provider(fault_rate=FAULT_RATE) as base_url:
            faulty, fault_summary = ours(faulty_db, base_url, project, processes=PROCESSES)
        posts, single, failed = outcomes(faulty_db)
        print(f"baseline (sequential, {N_BASELINE} posts): {base:8.1f} posts/s")
        print(
            f"bare litellm.acompletion, c={CONCURRENCY}:  {ref:8.1f} posts/s  "
            f"= {ref / limit:.2f} of limit, {ref / base:.1f}x baseline"
        )
        print(
            f"ours, processes=1, c={CONCURRENCY}:        {one:8.1f} posts/s  "
            f"= {one / limit:.2f} of limit, {one / ref:.2f}x bare; {one_summary.failures} failures"
        )
        print(
            f"ours, processes={PROCESSES}, c={CONCURRENCY}:        {mine:8.1f} posts/s  "
            f"= {mine / limit:.2f} of limit {limit:.0f}/s, {mine / ref:.2f}x bare, "
            f"{mine / base:.1f}x baseline; {summary.failures} failures "
            f"(targets: >= 0.85 of limit, >= 1.0x bare)"
        )
        print(
            f"ours, processes={PROCESSES}, unpriced model: {unpriced:8.1f} posts/s  "
            f"= {unpriced / limit:.2f} of limit ({UNPRICED}: LiteLLM has no price for it)"
        )
        cores = os.cpu_count() or 1
        for name, cpu in (("bare", cpu_bare), (f"ours, processes={PROCESSES}", cpu_ours)):
            per_post = cpu["client"] + cpu["provider"]
            usable = cores * (1 - cpu["steal"])
            print(
                f"  CPU per post, {name}: {cpu['client']:.1f} ms client + "
                f"{cpu['provider']:.1f} ms fake provider; {cores} cores, {cpu['steal']:.0%} of "
                f"their time stolen by the hypervisor: CPU ceiling "
                f"{usable / per_post * 1000:.0f} posts/s = {usable / per_post * 1000 / limit:.2f} "
                f"of limit" + (" (one process: at most one core)" if name == "bare" else "")
            )
        print(
            f"ours, {FAULT_RATE:.0%} faults:               {faulty:8.1f} posts/s  "
            f"= {faulty / mine:.2f} of fault-free (target >= 0.7; at the bound of {CONCURRENCY} "
            f"in flight, no engine can exceed {slot_bound_ratio():.2f} of a fault-free run at "
            f"the limit); {posts} posts, "
            f"{single} with exactly one current judgment, {failed} stored failures "
            f"({fault_summary.failures} in the run summary: parse faults and exhausted retries, "
            f"re-judged by the next run)"
        )
        memory_db = database(project, N_MEMORY, root, "memory")
        with fake_provider(latency_ms=0) as base_url:
            warm_litellm()
            before = peak_rss_mb()
            peak: dict[str, float] = {}
            with worker_memory(peak):
                rate, mem_summary = ours(
                    memory_db, base_url, project, concurrency=64, processes=PROCESSES
                )
            grown = peak_rss_mb() - before
        # A forked worker shares the parent's pages until it writes them: its RSS counts them,
        # its PSS splits them among the processes sharing them.
        print(
            f"memory: {mem_summary.posts_judged} pending posts judged at {rate:.0f}/s, "
            f"processes={PROCESSES}: peak RSS {before:.0f} -> {before + grown:.0f} MB "
            f"(+{grown:.0f} MB; target < 200); largest worker: RSS {peak.get('rss', 0):.0f} MB, "
            f"PSS {peak.get('pss', 0):.0f} MB"
        )


if __name__ == "__main__":
    main()
