"""The worker side of llm/processes.py, and the wire between: length-prefixed pickles over two
pipes. A worker (a fork of the step's process) reads (call id, gateway settings, request), makes
the call with a plain `LLMGateway` of those settings (no tracer: the caller traces) and writes
back (call id, response); calls run concurrently; at the end of its input it finishes what it
holds and exits."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import signal
import struct
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signalops_assets.llm.gateway import LLMGateway, LLMRequest, LLMResponse

_HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker builds its gateway from: the calling gateway's settings, no key."""

    api_base: str | None
    timeout_s: float
    num_retries: int
    backoff_s: float
    max_backoff_s: float


def frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message; IncompleteReadError at the end of the stream."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))  # our own fork's bytes, trusted


async def pipe_ends(
    read_fd: int, write_fd: int
) -> tuple[asyncio.StreamReader, asyncio.WriteTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()  # readexactly only: the line limit never applies
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0)
    )
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(write_fd, "wb", 0))
    return reader, transport


def failure(request: LLMRequest, error: str) -> LLMResponse:
    from signalops_assets.llm.gateway import LLMResponse

    return LLMResponse(text="", model=request.model, latency_ms=0.0, cost_usd=None, error=error)


async def serve(read_fd: int, write_fd: int) -> None:
    """Answer (id, settings, request) frames concurrently until the input ends, then finish
    what is held and return."""
    from signalops_assets.llm.gateway import LLMGateway
    from signalops_assets.llm.loop import close_litellm_clients
    from signalops_assets.llm.tracing import NoopTracer
    from signalops_assets.redaction import exception_line

    reader, out = await pipe_ends(read_fd, write_fd)
    gateways: dict[WorkerSettings, LLMGateway] = {}
    running: set[asyncio.Task[None]] = set()

    async def answer(gateway: LLMGateway, call_id: int, request: LLMRequest) -> None:
        try:
            response = await gateway.send(request)
        except Exception as exc:  # the gateway answers failures itself; a bug's last net
            response = failure(request, f"LLM worker: {exception_line(exc)}")
        out.write(frame((call_id, response)))

    while True:
        try:
            call_id, settings, request = await read_frame(reader)
        except asyncio.IncompleteReadError:
            break
        gateway = gateways.get(settings)
        if gateway is None:
            gateway = gateways[settings] = LLMGateway(**asdict(settings), tracer=NoopTracer())
        task = asyncio.create_task(answer(gateway, call_id, request))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)
    await close_litellm_clients()
    out.close()


def run_child(read_fd: int, write_fd: int, close: list[int]) -> None:
    code = 1
    try:
        gc.freeze()  # what we inherited is never collected here (no parent finalizer runs)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for fd in close:
            os.close(fd)
        asyncio.run(serve(read_fd, write_fd))
        code = 0
    finally:
        os._exit(code)
