"""Prompt caching and the Anthropic Messages dialect for the fake OpenAI server.

* ``PromptCache``: the static prefix of a request (every message before the last user message)
  is remembered per model; a later request with the same prefix reports it as cached, the way
  OpenAI does (``prompt_tokens_details.cached_tokens``, prefixes of >= 1,024 tokens, in steps
  of 128) and Anthropic does (only when a block carries ``cache_control``; the first request
  writes the cache, ``cache_creation_input_tokens``, later ones read it,
  ``cache_read_input_tokens``).
* ``chat_body_from_messages`` / ``messages_response``: ``POST /v1/messages`` translated to the
  chat shape the server already answers, and the answer back, so LiteLLM's ``anthropic/``
  provider (``api_base=server.url``) works against the fake.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

MIN_CACHED_TOKENS = 1024


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def _has_breakpoint(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(p, dict) and p.get("cache_control") for p in content
    )


def static_prefix(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every message before the last user message: what is the same for every post."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
    return messages[:last_user]


@dataclass(frozen=True)
class CacheUsage:
    prompt_tokens: int
    cached_tokens: int = 0  # read from the cache
    cache_creation_tokens: int = 0  # written to it (Anthropic only)


class PromptCache:
    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.min_tokens = MIN_CACHED_TOKENS

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self.min_tokens = MIN_CACHED_TOKENS

    def usage(
        self, model: str, messages: list[dict[str, Any]], count: Any, *, explicit: bool
    ) -> CacheUsage:
        """Token counts for a request; `explicit`: Anthropic rules (cache_control needed)."""
        total = sum(count(_text(m.get("content"))) for m in messages)
        prefix = static_prefix(messages)
        size = sum(count(_text(m.get("content"))) for m in prefix)
        if explicit and not any(_has_breakpoint(m.get("content")) for m in prefix):
            return CacheUsage(total)
        if size < self.min_tokens:
            return CacheUsage(total)
        digest = hashlib.sha256(json.dumps([_text(m.get("content")) for m in prefix]).encode())
        key = (model, digest.hexdigest())
        with self._lock:
            hit = key in self._seen
            self._seen.add(key)
        if explicit:
            return CacheUsage(total, size, 0) if hit else CacheUsage(total, 0, size)
        return CacheUsage(total, size - size % 128 if hit else 0)


def chat_body_from_messages(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request as a chat-completions body (system first; blocks kept so
    cache_control stays visible; the JSON schema, if any, as response_format)."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": system})
    messages += [m for m in body.get("messages") or [] if isinstance(m, dict)]
    chat = {k: v for k, v in body.items() if k not in ("system", "messages")}
    chat["messages"] = messages
    output_format = body.get("output_format")
    if isinstance(output_format, dict):
        chat["response_format"] = {"type": "json_schema", "json_schema": output_format}
    return chat


def messages_response(
    completion_id: str,
    model: str,
    content: str,
    usage: CacheUsage,
    completion_tokens: int,
    body: dict[str, Any],
) -> dict[str, Any]:
    """The Anthropic Messages answer (LiteLLM sends a JSON schema as `output_format`, which
    the answer's text then satisfies)."""
    return {
        "id": completion_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": content}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.prompt_tokens - usage.cached_tokens - usage.cache_creation_tokens,
            "output_tokens": completion_tokens,
            "cache_creation_input_tokens": usage.cache_creation_tokens,
            "cache_read_input_tokens": usage.cached_tokens,
        },
    }
