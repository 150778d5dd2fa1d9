"""The streaming engine: at most C in flight, no barrier between pages, one writer in batches,
progress reported, a failure stops the run without a half-written batch."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from signalops_assets.streaming import Progress, StreamConfig, run_stream


def pages(n: int, size: int) -> list[list[int]]:
    return [list(range(start, min(n, start + size))) for start in range(0, n, size)]


def test_bounded_in_flight_no_barrier_one_batched_writer() -> None:
    todo = pages(200, 50)
    in_flight = peak = 0
    writes: list[list[int]] = []
    writing = threading.Lock()
    reports: list[Progress] = []

    async def work(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(1.0 if i % 50 == 0 else 0.01)  # one slow call per page
        in_flight -= 1
        return i

    def write(batch: list[int]) -> None:
        assert writing.acquire(blocking=False), "two writers at once"
        try:
            writes.append(batch)
        finally:
            writing.release()

    config: StreamConfig[int, int] = StreamConfig(
        read_batch=lambda: todo.pop(0) if todo else [],
        work=work,
        write=write,
        concurrency=4,
        commit_rows=25,
        commit_s=60,
        is_failure=lambda i: i % 10 == 0,
        on_progress=reports.append,
        progress_s=0.0,
    )
    started = time.perf_counter()
    progress = asyncio.run(run_stream(config, total=200))
    elapsed = time.perf_counter() - started
    assert peak == 4
    # A barrier per page would wait for each page's slow call: >= 4 x 1.0 s. Without one the
    # slow calls overlap the rest: about 1.2 s here, a wide margin for a loaded machine.
    assert elapsed < 3.0
    assert sorted(i for batch in writes for i in batch) == list(range(200))
    assert max(len(b) for b in writes) <= 25
    assert (progress.finished, progress.stored, progress.failures) == (200, 200, 20)
    assert reports and reports[-1].finished == 200 and "200/200" in reports[-1].line()


def test_time_based_commits_and_limit() -> None:
    todo = pages(30, 10)
    writes: list[list[int]] = []

    async def work(i: int) -> int:
        await asyncio.sleep(0.02)
        return i

    config: StreamConfig[int, int] = StreamConfig(
        read_batch=lambda: todo.pop(0) if todo else [],
        work=work,
        write=writes.append,
        concurrency=2,
        commit_rows=1000,
        commit_s=0.1,
        limit=12,
    )
    progress = asyncio.run(run_stream(config))
    assert progress.started == progress.stored == 12
    assert len(writes) >= 2  # committed on time, not only at the end


def test_a_failing_write_stops_the_run() -> None:
    todo = pages(50, 10)
    stored: list[int] = []

    async def work(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    def write(batch: list[int]) -> None:
        if stored:
            raise OSError("disk full")
        stored.extend(batch)

    config: StreamConfig[int, int] = StreamConfig(
        read_batch=lambda: todo.pop(0) if todo else [], work=work, write=write, commit_rows=5
    )
    with pytest.raises(OSError, match="disk full"):
        asyncio.run(run_stream(config))
    assert len(stored) == 5
