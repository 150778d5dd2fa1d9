"""Spreading LLM calls over worker processes, for runs whose pace LiteLLM's per-call CPU caps.

One Python process spends milliseconds of CPU on every LiteLLM completion (building the
request and the HTTP call, parsing, pricing, logging), so one event loop tops out below what a
provider with dozens of calls in flight delivers (bench/judging.py prints both). With a pool
attached, each `LLMGateway.acomplete` goes to the least busy of n worker processes, each a
plain `LLMGateway` with the caller's settings; the caller keeps everything else: the trace
span, parsing, the database and the bound on calls in flight.

Workers are forked, before the run's event loop starts, from a process that has imported and
warmed LiteLLM: ready at once, where a fresh interpreter spends seconds importing it. A child
freezes the garbage collector's view of what it inherited (no finalizer of the parent's database
connections or clients ever runs in it), makes its own event loop and HTTP clients, and leaves
with `os._exit` (no atexit hook, no buffered output of the parent's written twice).

What crosses the pipe: the gateway's settings (never a key) and the request; back, the
response. Provider keys are where LiteLLM always reads them, in the environment the child
inherits; a gateway given an explicit `api_key` (tests) keeps its calls in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import signal
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from signalops_assets.llm.worker import (
    WorkerSettings,
    failure,
    frame,
    pipe_ends,
    read_frame,
    run_child,
)

if TYPE_CHECKING:
    from signalops_assets.llm.gateway import LLMRequest, LLMResponse

__all__ = ["WorkerPool", "WorkerSettings", "active_pool", "workers"]


def _longest_call_s(settings: WorkerSettings, request: LLMRequest) -> float:
    """How long a worker may take over `request`: every attempt of every model at its timeout,
    with the longest backoffs between, or the request's deadline if shorter; plus a margin."""
    models = len({request.model, *request.fallbacks})
    attempts = models * (settings.num_retries + 1)
    longest = attempts * ((request.timeout_s or settings.timeout_s) + settings.max_backoff_s)
    if request.deadline_s is not None:
        longest = min(longest, request.deadline_s)
    return longest + 10.0


# --- the parent --------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    pid: int
    read_fd: int
    write_fd: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.WriteTransport | None = None
    alive: bool = True
    pending: dict[int, asyncio.Future[LLMResponse | None]] = field(default_factory=dict)
    listener: asyncio.Task[None] | None = None
    exit_code: int | None = None


class WorkerPool:
    """n forked worker processes. `fork` before the event loop, then `async with pool:` inside
    it (gateways use the pool while attached); `close` at the end, which `workers` does."""

    def __init__(self, workers: list[_Worker]) -> None:
        self._workers = workers
        self._ids = itertools.count(1)
        self._token: Token[WorkerPool | None] | None = None
        self.calls_sent = 0

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    @classmethod
    def fork(cls, processes: int) -> WorkerPool:
        from signalops_assets.llm.litellm_setup import warm_litellm

        warm_litellm()  # once, here: every child starts warm
        sys.stdout.flush()
        sys.stderr.flush()
        workers: list[_Worker] = []
        try:
            for _ in range(processes):
                to_child_r, to_child_w = os.pipe()
                from_child_r, from_child_w = os.pipe()
                theirs = [to_child_w, from_child_r]
                # The parent's ends of the earlier workers' pipes too: a child holding them
                # would keep an earlier worker's input open after the parent closes it.
                earlier = [fd for w in workers for fd in (w.read_fd, w.write_fd)]
                pid = _fork_between_imports()
                if pid == 0:
                    run_child(to_child_r, from_child_w, theirs + earlier)
                os.close(to_child_r)
                os.close(from_child_w)
                workers.append(_Worker(pid, from_child_r, to_child_w))
        except BaseException:
            cls(workers).kill()
            raise
        return cls(workers)

    async def __aenter__(self) -> WorkerPool:
        for worker in self._workers:
            worker.reader, worker.writer = await pipe_ends(worker.read_fd, worker.write_fd)
            worker.listener = asyncio.create_task(self._listen(worker))
        self._token = _POOL.set(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._token is not None:
            _POOL.reset(self._token)
            self._token = None
        for worker in self._workers:
            if worker.writer is not None:
                worker.writer.close()  # the end of its input: it finishes and exits
        listeners = [w.listener for w in self._workers if w.listener is not None]
        if listeners:  # each call is bounded by its timeout; `close` kills a straggler
            _, stuck = await asyncio.wait(listeners, timeout=30)
            for listener in stuck:
                listener.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    async def _listen(self, worker: _Worker) -> None:
        assert worker.reader is not None
        try:
            while True:
                call_id, response = await read_frame(worker.reader)
                future = worker.pending.pop(call_id, None)
                if future is not None and not future.done():
                    future.set_result(response)
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError):
            pass  # the worker exited: what it still owed is answered below
        finally:
            worker.alive = False
            for future in worker.pending.values():
                if not future.done():
                    future.set_result(None)
            worker.pending.clear()

    def _pick(self) -> _Worker | None:
        alive = [w for w in self._workers if w.alive and w.writer is not None]
        return min(alive, key=lambda w: len(w.pending)) if alive else None

    async def call(self, settings: WorkerSettings, request: LLMRequest) -> LLMResponse | None:
        """The worker's response; None when no worker is left (the caller makes the call). A
        worker that dies holding the call answers with a failure, never a replay (a retry of
        the post costs one provider call; a silent replay might cost two)."""
        worker = self._pick()
        if worker is None:
            return None
        assert worker.writer is not None
        call_id = next(self._ids)
        future: asyncio.Future[LLMResponse | None] = asyncio.get_running_loop().create_future()
        worker.pending[call_id] = future
        worker.writer.write(frame((call_id, settings, request)))
        self.calls_sent += 1
        guard = _longest_call_s(settings, request)
        try:
            response = await asyncio.wait_for(future, guard)
        except TimeoutError:  # a stuck worker: no more calls for it, and it is stopped
            worker.pending.pop(call_id, None)
            worker.alive = False
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
            return failure(request, f"LLM worker process did not answer within {guard:.0f} s")
        if response is None:
            return failure(request, "LLM worker process exited before answering")
        return response

    def close(self, timeout_s: float = 10.0) -> None:
        """Wait for every child to exit (after `__aexit__` closed their input); kill after
        `timeout_s`. Also closes the pipe ends never attached (a loop that did not start)."""
        for worker in self._workers:
            if worker.writer is None:
                for fd in (worker.read_fd, worker.write_fd):
                    with contextlib.suppress(OSError):
                        os.close(fd)
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            while worker.exit_code is None:
                pid, status = os.waitpid(worker.pid, os.WNOHANG)
                if pid:
                    worker.exit_code = os.waitstatus_to_exitcode(status)
                elif time.monotonic() >= deadline:
                    os.kill(worker.pid, signal.SIGKILL)
                    _, status = os.waitpid(worker.pid, 0)
                    worker.exit_code = os.waitstatus_to_exitcode(status)
                else:
                    time.sleep(0.02)

    def kill(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        self.close(timeout_s=5.0)

    @property
    def exit_codes(self) -> list[int | None]:
        return [w.exit_code for w in self._workers]


def _fork_between_imports(wait_s: float = 10.0) -> int:
    """`os.fork` at a moment no other thread is importing a module. A module lock held at the
    fork stays held in the child forever, and its first import of that module hangs (seen with
    LiteLLM's logging thread finishing the warm-up call's lazy imports). Holding the global
    import lock, under which every import takes its module lock, no import can start; the
    fork waits (up to `wait_s`) until none is under way."""
    import _imp
    import importlib._bootstrap as bootstrap

    # CPython's table of the module locks in use (name -> weak reference); none: not CPython.
    locks: dict[str, Any] = getattr(bootstrap, "_module_locks", {})
    deadline = time.monotonic() + wait_s
    while True:
        _imp.acquire_lock()
        try:
            busy = any(ref() is not None for ref in list(locks.values()))
            if not busy or time.monotonic() >= deadline:
                return os.fork()
        finally:
            with contextlib.suppress(RuntimeError):  # the child's lock is re-created
                _imp.release_lock()
        time.sleep(0.005)


def _loop_running() -> bool:
    """Forking under a running loop would hand the child the parent's loop as its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_POOL: ContextVar[WorkerPool | None] = ContextVar("signalops_llm_workers", default=None)


def active_pool() -> WorkerPool | None:
    """The pool attached in this context (tasks inherit it: asyncio copies the context)."""
    return _POOL.get()


@contextlib.contextmanager
def workers(processes: int) -> Iterator[WorkerPool | None]:
    """Fork `processes` workers (none when < 2, or where fork does not exist) for one run;
    always waits for them afterwards. Use before the event loop starts; attach inside it."""
    if processes < 2 or not hasattr(os, "fork") or _loop_running():
        yield None
        return
    pool = WorkerPool.fork(processes)
    try:
        yield pool
    except BaseException:
        pool.kill()
        raise
    pool.close()
