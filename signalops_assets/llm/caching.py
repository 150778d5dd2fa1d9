"""What a model accepts beyond plain chat: a JSON schema for its answer, an explicit prompt-cache
breakpoint; and the cache token counts its usage reports. Looked up in LiteLLM's model map."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from signalops_assets.llm.litellm_setup import get_litellm

# Providers whose prompt cache is opt-in per block (`cache_control`); OpenAI, DeepSeek and
# others cache long prefixes on their own, so they get no breakpoint.
_EXPLICIT_CACHE_PROVIDERS = frozenset({"anthropic", "bedrock", "vertex_ai", "vertex_ai_beta"})


def _provider(model: str) -> str | None:
    try:
        return str(get_litellm().get_llm_provider(model)[1])
    except Exception:  # an id LiteLLM cannot route: no special parameters for it
        return None


@functools.lru_cache(maxsize=512)
def schema_supported(model: str) -> bool:
    """True when `response_format` with a JSON schema constrains this model's answer. The
    offline `local/` models honour the schema themselves (llm.local_provider)."""
    if model.startswith("local/"):
        return True
    try:
        return bool(get_litellm().supports_response_schema(model=model))
    except Exception:
        return False


@functools.lru_cache(maxsize=512)
def explicit_caching(model: str) -> bool:
    """Anthropic-style caching: only blocks marked `cache_control` are cached (Claude on
    Anthropic, Bedrock and Vertex)."""
    provider = _provider(model)
    if provider == "anthropic":
        return True
    return provider in _EXPLICIT_CACHE_PROVIDERS and "claude" in model.lower()


def with_cache_breakpoint(
    messages: Sequence[Mapping[str, Any]], prefix: int
) -> list[dict[str, Any]]:
    """The messages with the last static one (index prefix-1) as a content block carrying
    `cache_control`: everything up to it is cached and read back at a tenth of the price."""
    out = [dict(m) for m in messages]
    if not 0 < prefix <= len(out):
        return out
    last = out[prefix - 1]
    content = last.get("content")
    if isinstance(content, str):
        last["content"] = [
            {"type": "text", "text": content, "cache_control": {"type": "ephemeral"}}
        ]
    return out


def cache_tokens(usage: Any) -> tuple[int | None, int | None]:
    """(cached read, cache creation) prompt tokens from a LiteLLM usage: OpenAI reports reads in
    prompt_tokens_details.cached_tokens, Anthropic both in its own fields (LiteLLM maps them)."""
    if usage is None:
        return None, None
    details = getattr(usage, "prompt_tokens_details", None)
    read = getattr(details, "cached_tokens", None)
    if read is None:
        read = getattr(usage, "cache_read_input_tokens", None)
    created = getattr(usage, "cache_creation_input_tokens", None)
    if created is None:
        created = getattr(details, "cache_creation_tokens", None)
    return (None if read is None else int(read)), (None if created is None else int(created))
