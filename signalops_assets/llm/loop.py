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
