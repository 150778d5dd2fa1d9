"""The streaming engine every LLM batch runs on (judged_posts, drafts, the CLI).

Items are read in batches (the reader pages through the database), at most `concurrency` calls
are in flight at any moment with no barrier between batches (a slot frees, the next item
starts), and one writer stores finished results in transactions of `commit_rows` rows or
`commit_s` seconds, whichever comes first. A crash loses at most the rows not yet committed
(one batch), never half a batch; progress is reported every `progress_s` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from signalops_assets.llm.processes import WorkerPool

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Progress:
    total: int | None = None
    started: int = 0
    finished: int = 0
    stored: int = 0  # results committed by the writer
    failures: int = 0
    commits: int = 0
    calls_in_workers: int = 0  # LLM calls made by worker processes (llm/processes.py)
    began: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.began

    @property
    def rate(self) -> float:
        return self.finished / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def line(self, noun: str = "items") -> str:
        total = "?" if self.total is None else str(self.total)
        return (
            f"{noun}: {self.finished}/{total} done, {self.rate:.1f}/s, "
            f"{self.failures} failures, {self.stored} stored in {self.commits} commits"
        )


class _Done:
    pass


@dataclass(frozen=True)
class _Failed:
    error: Exception


@dataclass
class StreamConfig(Generic[T, R]):
    read_batch: Callable[[], Sequence[T]]  # the next page; empty when there is no more
    work: Callable[[T], Awaitable[R]]
    write: Callable[[list[R]], None]  # one transaction; runs in a worker thread
    concurrency: int = 16
    commit_rows: int = 100
    commit_s: float = 2.0
    is_failure: Callable[[R], bool] = lambda _r: False
    on_progress: Callable[[Progress], None] | None = None
    progress_s: float = 5.0
    limit: int | None = None
    # Processes making the LLM calls (llm/processes.py) when `stream` runs at least
    # SPREAD_FROM items: a smaller run is over before the spread pays for the forks.
    processes: int = 1


SPREAD_FROM = 500


def stream(config: StreamConfig[T, R], total: int | None = None) -> Progress:
    """`run_stream` on its own event loop, with `config.processes` worker processes making the
    calls when the run has at least SPREAD_FROM items."""
    from signalops_assets.llm.loop import run_async
    from signalops_assets.llm.processes import workers

    big = total is not None and total >= SPREAD_FROM
    with workers(config.processes if big else 1) as pool:
        progress: Progress = run_async(run_stream(config, total, pool))
    progress.calls_in_workers = pool.calls_sent if pool is not None else 0
    return progress


async def run_stream(
    config: StreamConfig[T, R], total: int | None = None, pool: WorkerPool | None = None
) -> Progress:
    if pool is None:
        return await _run(config, total)
    async with pool:  # the gateways' calls go to its workers
        return await _run(config, total)


async def _run(config: StreamConfig[T, R], total: int | None) -> Progress:
    progress = Progress(total=total)
    results: asyncio.Queue[R | _Done | _Failed] = asyncio.Queue()
    slots = asyncio.Semaphore(config.concurrency)
    calls: set[asyncio.Task[None]] = set()

    async def one(item: T) -> None:
        try:
            await results.put(await config.work(item))
        except Exception as exc:  # handed to the consumer, which stops the run with it
            await results.put(_Failed(exc))
        finally:
            slots.release()

    async def produce() -> None:
        while config.limit is None or progress.started < config.limit:
            batch = config.read_batch()
            if not batch:
                break
            for item in batch:
                if config.limit is not None and progress.started >= config.limit:
                    break
                await slots.acquire()
                progress.started += 1
                task = asyncio.create_task(one(item))
                calls.add(task)
                task.add_done_callback(calls.discard)
        for _ in range(config.concurrency):  # every slot free again: every call finished
            await slots.acquire()
        await results.put(_Done())

    async def flush(buffer: list[R]) -> None:
        if buffer:
            await asyncio.to_thread(config.write, buffer)
            progress.stored += len(buffer)
            progress.commits += 1

    async def consume() -> None:
        buffer: list[R] = []
        last_commit = last_report = time.monotonic()
        while True:
            wait = max(0.01, config.commit_s - (time.monotonic() - last_commit))
            try:
                item = await asyncio.wait_for(results.get(), wait)
            except TimeoutError:
                item = None
            if isinstance(item, _Failed):
                raise item.error
            if isinstance(item, _Done):
                await flush(buffer)
                return
            if item is not None:
                buffer.append(item)
                progress.finished += 1
                progress.failures += bool(config.is_failure(item))
            now = time.monotonic()
            if len(buffer) >= config.commit_rows or now - last_commit >= config.commit_s:
                batch, buffer = buffer, []
                await flush(batch)
                last_commit = time.monotonic()
            if config.on_progress and now - last_report >= config.progress_s:
                config.on_progress(progress)
                last_report = now

    producer, consumer = asyncio.create_task(produce()), asyncio.create_task(consume())
    done, _ = await asyncio.wait({producer, consumer}, return_when=asyncio.FIRST_EXCEPTION)
    failed = next((t for t in done if not t.cancelled() and t.exception() is not None), None)
    if failed is not None:
        # Stop starting calls, but let those in flight finish (each bounded by its timeout)
        # rather than cancel them: a cancelled LiteLLM call can leave its provider coroutine
        # never awaited. Their results are dropped with the uncommitted batch.
        for task in (producer, consumer):
            task.cancel()
        await asyncio.gather(producer, consumer, *calls, return_exceptions=True)
        error = failed.exception()
        assert error is not None
        raise error
    await asyncio.gather(producer, consumer)
    if config.on_progress:
        config.on_progress(progress)
    return progress
