"""Import LiteLLM once, configured for us: no network at import, quiet, local provider on."""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Any

_lock = threading.Lock()
_module: Any = None
_warm = False


def set_environment() -> None:
    """What LiteLLM must see before its import."""
    # Without this LiteLLM downloads its price map at import time.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    # Without this the first Anthropic call fetches LiteLLM's beta-header table from GitHub.
    os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")


def get_litellm() -> Any:
    """The configured `litellm` module (imported lazily: the import costs seconds)."""
    global _module
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            set_environment()
            import litellm

            from signalops_assets.llm.local_provider import PROVIDER, build_handler

            litellm.suppress_debug_info = True
            litellm.drop_params = True
            litellm.telemetry = False
            # Redaction deep-copies every request's messages for LiteLLM's logging callbacks, of
            # which we register none (our tracer masks content itself): CPU spent on every call
            # for nothing (bench/judging.py measures the gateway's per-call cost).
            # Set it back to True if a LiteLLM callback is ever added.
            litellm.turn_off_message_logging = False
            litellm.custom_provider_map = [
                *[p for p in litellm.custom_provider_map if p.get("provider") != PROVIDER],
                {"provider": PROVIDER, "custom_handler": build_handler()},
            ]
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
                logging.getLogger(name).setLevel(logging.ERROR)
            _module = litellm
    return _module


def warm_litellm() -> None:
    """Import LiteLLM and run one mocked OpenAI-route `acompletion` (no network): its first real
    call otherwise imports provider and logging modules inside the call, time a latency budget
    would charge to the provider. Once per process. Async, on a loop of its own in this thread:
    LiteLLM hands a sync call's success logging to a background thread, which would still be
    importing when the caller forks LLM workers (llm/processes.py); an async call logs on the
    loop, done when the loop is."""
    global _warm
    litellm = get_litellm()
    if _warm:
        return
    with _lock:
        if not _warm:
            import asyncio
            import threading

            async def once() -> None:
                await litellm.acompletion(
                    model="openai/warm-up",
                    messages=[{"role": "user", "content": "warm-up"}],
                    mock_response="ok",
                    api_key="sk-warm-up-not-a-key",
                )
                for _ in range(3):  # the success logging task it started
                    await asyncio.sleep(0)

            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(once())
            else:  # called under a running loop: the warm-up gets a thread and loop of its own
                thread = threading.Thread(target=asyncio.run, args=(once(),), daemon=True)
                thread.start()
                thread.join()
            _warm = True


@functools.lru_cache(maxsize=512)
def token_prices(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token from LiteLLM's price map, looked up once per model; None
    when LiteLLM has no price (cached too: its own lookup caches only the models it finds)."""
    try:
        info = get_litellm().get_model_info(model)
    except Exception:
        return None
    prompt, completion = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if prompt is None or completion is None:
        return None
    return float(prompt), float(completion)
