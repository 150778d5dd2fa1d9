"""Optional: LiteLLM calls in worker processes, so a busy gateway uses more than one core.

LiteLLM spends ~4-5 ms of CPU per call (its Logging object and cost lookup, the OpenAI SDK), so
a single event loop queues a 32-wide batch of fast calls behind that work. With workers on
(`SIGNALOPS_LLM_WORKERS=N` or `LLMGateway(worker_processes=N)`; off by default), once the process
starts non-local async calls faster than `START_RATE` per second, or after
`LLMGateway.start_workers()`, calls go to N processes, each with its own event loop running the
gateway's own retry/fallback code (`LLMGateway._acomplete_here`), so every call is still a
`litellm.acompletion`. Tracing stays in the caller, around each call. Callers bound concurrency
with their own semaphore: a worker runs what it is sent, so the total in flight is unchanged.
The caller's environment (provider keys) is sent along whenever it changes.

Workers come from a forkserver that imports LiteLLM once (~4 s): a plain fork copies the
parent's open HTTP clients, LiteLLM's queued logging coroutines and locks held by other threads
(tried: it hung). Until a worker reports ready, calls run in-process; if one dies, its calls are
re-run in-process and the pool is not used again.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import logging
import multiprocessing as mp
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signalops_assets.llm.gateway import LLMRequest, LLMResponse

log = logging.getLogger(__name__)

START_RATE = 64  # call starts within one second that justify the workers (small batches: none)
_READY = -1  # call id of a worker's "ready" message
# api_base, api_key, timeout_s, num_retries, backoff_s: one worker serves every gateway.
Settings = tuple[str | None, str | None, float, int, float]


class WorkerLost(RuntimeError):
    """The worker died before answering; the caller runs the call itself."""


def default_processes() -> int:
    """`SIGNALOPS_LLM_WORKERS` (`auto`: one per core, at most 4); unset: 0, workers off."""
    from signalops_assets.settings import settings

    configured = settings().llm_workers
    if configured is None:  # auto
        cores = os.cpu_count() or 1
        return min(cores, 4) if cores > 1 else 0
    return configured


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = field(
        default_factory=dict
    )
    env: dict[str, str] | None = None  # the environment last sent (provider keys live there)
    alive: bool = True


class WorkerPool:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._lock = threading.Lock()
        self._state = "idle"  # idle -> starting -> (ready | broken); closed at exit
        self._ready: list[_Worker] = []
        self._all: list[_Worker] = []
        self._starts: deque[float] = deque()
        self._ids = itertools.count()
        self.served = 0  # calls answered by a worker

    @property
    def state(self) -> str:
        return self._state

    def available(self) -> bool:
        """Whether to send this call to a worker; counts the call toward starting them."""
        if self._state == "ready":
            return True
        if self._state != "idle":
            return False
        now = time.monotonic()
        with self._lock:
            self._starts.append(now)
            while self._starts and now - self._starts[0] > 1.0:
                self._starts.popleft()
            start = len(self._starts) >= START_RATE
        if start:
            self.start()
        return False

    def start(self) -> None:
        """Start the workers in the background (the forkserver's LiteLLM import takes seconds)."""
        with self._lock:
            if self._state != "idle":
                return
            self._state = "starting"
        threading.Thread(target=self._spawn, name="llm-worker-start", daemon=True).start()

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until every worker is ready (or the pool broke, or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._state in ("broken", "closed") or len(self._ready) >= self.processes:
                break
            time.sleep(0.02)
        return self._state == "ready"

    def _spawn(self) -> None:
        try:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["litellm", __name__])
            for index in range(self.processes):
                ours, theirs = ctx.Pipe()
                process = ctx.Process(
                    target=_child_main, args=(theirs,), daemon=True, name=f"llm-worker-{index}"
                )
                process.start()
                theirs.close()
                worker = _Worker(process, ours)
                with self._lock:
                    self._all.append(worker)
                threading.Thread(
                    target=self._read,
                    args=(worker,),
                    name=f"llm-worker-{index}-reader",
                    daemon=True,
                ).start()
        except Exception as exc:  # e.g. inside a daemonic process: no children allowed
            log.warning("LLM worker processes unavailable (%s); calls stay in-process", exc)
            self._state = "broken"

    def _read(self, worker: _Worker) -> None:
        try:
            while True:
                call_id, response = worker.conn.recv()
                if call_id == _READY:
                    with self._lock:
                        if self._state in ("starting", "ready"):
                            self._ready.append(worker)
                            self._state = "ready"
                    continue
                entry = worker.pending.pop(call_id, None)
                if entry is not None:
                    self.served += 1
                    _settle(entry, response)
        except (EOFError, OSError):
            pass
        finally:
            self._lost(worker)

    def _lost(self, worker: _Worker) -> None:
        worker.alive = False
        with self._lock:
            if worker in self._ready:
                self._ready.remove(worker)
            if self._state != "closed":
                if self._state == "ready":
                    log.warning("an LLM worker process exited; calls run in-process from now on")
                self._state = "broken"
        while worker.pending:
            _, entry = worker.pending.popitem()
            _settle(entry, WorkerLost("LLM worker process exited"))

    async def call(self, settings: Settings, request: LLMRequest) -> LLMResponse:
        worker = min(self._ready, key=lambda w: len(w.pending), default=None)
        if worker is None or not worker.alive:
            raise WorkerLost("no LLM worker ready")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[LLMResponse] = loop.create_future()
        call_id = next(self._ids)
        worker.pending[call_id] = (loop, future)
        env = dict(os.environ)  # LiteLLM reads keys from it at call time: keep the worker's equal
        try:
            with worker.send_lock:
                if env != worker.env:
                    worker.conn.send(("env", 0, env))
                    worker.env = env
                worker.conn.send(("call", call_id, settings, request))
        except (OSError, ValueError) as exc:
            worker.pending.pop(call_id, None)
            raise WorkerLost(str(exc)) from None
        try:
            return await future
        except asyncio.CancelledError:  # e.g. the caller's latency budget ran out
            if worker.pending.pop(call_id, None) is not None:
                self._send_quietly(worker, ("cancel", call_id))
            raise

    def _send_quietly(self, worker: _Worker, message: Any) -> None:
        try:
            with worker.send_lock:
                worker.conn.send(message)
        except (OSError, ValueError):
            pass

    def close(self, timeout_s: float = 3.0) -> None:
        with self._lock:
            self._state = "closed"
            workers = list(self._all)
        for worker in workers:
            self._send_quietly(worker, None)
        deadline = time.monotonic() + timeout_s
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.terminate()
            worker.conn.close()


def _settle(entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]], value: Any) -> None:
    loop, future = entry

    def settle() -> None:
        if future.done():
            return
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)

    with contextlib.suppress(RuntimeError):  # that loop has closed; nobody is waiting
        loop.call_soon_threadsafe(settle)


_pool_lock = threading.Lock()
_pool: WorkerPool | None = None


def shared_pool(processes: int) -> WorkerPool | None:
    """The process's one pool (created on first use), or None when workers are off."""
    global _pool
    if processes <= 0:
        return None
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = WorkerPool(processes)
                atexit.register(_pool.close)
    return _pool


# ---- the worker process -----------------------------------------------------------------


def _child_main(conn: Connection) -> None:
    from signalops_assets.llm.litellm_setup import get_litellm

    get_litellm()
    asyncio.run(_serve(conn))


async def _serve(conn: Connection) -> None:
    from signalops_assets.llm.gateway import LLMGateway, close_litellm_clients

    loop = asyncio.get_running_loop()
    stopped = loop.create_future()
    gateways: dict[Settings, LLMGateway] = {}
    tasks: dict[int, asyncio.Task[None]] = {}

    async def run(call_id: int, settings: Settings, request: LLMRequest) -> None:
        gateway = gateways.get(settings)
        if gateway is None:
            api_base, api_key, timeout_s, num_retries, backoff_s = settings
            gateway = gateways[settings] = LLMGateway(
                api_base=api_base,
                api_key=api_key,
                timeout_s=timeout_s,
                num_retries=num_retries,
                backoff_s=backoff_s,
                worker_processes=0,
            )
        try:
            response = await gateway._acomplete_here(request)
        finally:
            tasks.pop(call_id, None)
        with contextlib.suppress(OSError, ValueError):
            conn.send((call_id, response))

    def handle(message: Any) -> None:
        kind, call_id, *rest = message
        if kind == "call":
            tasks[call_id] = loop.create_task(run(call_id, *rest))
        elif kind == "env":
            os.environ.clear()
            os.environ.update(rest[0])
        elif kind == "cancel" and (task := tasks.pop(call_id, None)) is not None:
            task.cancel()

    def readable() -> None:
        # On the loop itself, not a reader thread: a thread waits for the GIL behind LiteLLM's
        # CPU work (up to the 5 ms switch interval) before it can hand a call over.
        try:
            while conn.poll():
                message = conn.recv()
                if message is None:
                    raise EOFError
                handle(message)
        except (EOFError, OSError):  # stop message, or the parent is gone
            loop.remove_reader(conn.fileno())
            if not stopped.done():
                stopped.set_result(None)

    loop.add_reader(conn.fileno(), readable)
    conn.send((_READY, None))
    try:
        await stopped
    finally:
        for task in list(tasks.values()):
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await close_litellm_clients()
