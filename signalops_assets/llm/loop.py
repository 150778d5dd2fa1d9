"""Running the async LLM core from synchronous code: one event loop per call of `run_async`,
which leaves nothing of LiteLLM's behind when it closes."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from signalops_assets.llm.litellm_setup import get_litellm


def run_async(coro: Any) -> Any:
    """Run `coro` on a new event loop. Before the loop closes: LiteLLM's cached clients are
    closed, and garbage is collected once so that the clients LiteLLM built per call (file and
    batch routes, in reference cycles) close their connections on this loop, not later under
    another one ("Event loop is closed" at garbage collection)."""

    async def wrapper() -> Any:
        try:
            return await coro
        finally:
            await close_litellm_clients()
            gc.collect()
            await asyncio.sleep(0)  # let those clients' aclose() callbacks run here

    return asyncio.run(wrapper())


async def close_litellm_clients() -> None:
    litellm = get_litellm()
    closer = getattr(litellm, "close_litellm_async_clients", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # closing is best effort; a failure here loses no data
            return


async def litellm_in_thread(name: str, **kwargs: Any) -> Any:
    """LiteLLM's *synchronous* `name` (create_file, create_batch, file_content...) in a worker
    thread. Its async file and batch routes build a new AsyncOpenAI client per call (uncached,
    in a reference cycle), and afile_content hands a provider coroutine back out of an executor
    thread: under load, CI saw such clients collected after
    their loop had closed ("Event loop is closed", an anyio `try_connect` never awaited) and a
    dropped `afile_content` coroutine. A sync client has no loop to outlive; these calls are a
    handful per batch, so a thread each costs nothing that matters. Completions, the hot path,
    stay on `acompletion` (cached clients). Fine-tuning jobs stay on the async routes: LiteLLM's
    sync `create_fine_tuning_job` logs the raw provider error, which may echo an API key."""
    return await asyncio.to_thread(getattr(get_litellm(), name), **kwargs)
