"""Import LiteLLM once, configured for us: no network at import, quiet, local provider on."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

_lock = threading.Lock()
_module: Any = None


def get_litellm() -> Any:
    """The configured `litellm` module (imported lazily: the import costs seconds)."""
    global _module
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            # Without this LiteLLM downloads its price map at import time.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            os.environ.setdefault("LITELLM_LOG", "ERROR")
            import litellm

            from signalops_assets.llm.local_provider import PROVIDER, build_handler

            litellm.suppress_debug_info = True
            litellm.drop_params = True
            litellm.telemetry = False
            litellm.turn_off_message_logging = True
            litellm.custom_provider_map = [
                *[p for p in litellm.custom_provider_map if p.get("provider") != PROVIDER],
                {"provider": PROVIDER, "custom_handler": build_handler()},
            ]
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
                logging.getLogger(name).setLevel(logging.ERROR)
            _module = litellm
    return _module
