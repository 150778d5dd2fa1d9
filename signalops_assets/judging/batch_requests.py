"""What a judge sends in batch mode: one request line per (post, judge slot), in OpenAI's batch
JSONL format, grouped by model and cut into chunks within the provider's limits. No database,
no network, no Dagster."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from signalops_assets.judging.judges import RelevanceJudge, Slot
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.gateway import LLMGateway, LLMRequest

ENDPOINT = "/v1/chat/completions"
# Providers whose batch API takes OpenAI's JSONL as it is (LiteLLM's create_batch also knows
# vertex_ai and bedrock, which need their own line format: those judges run interactively).
BATCH_PROVIDERS = ("openai", "azure", "hosted_vllm", "litellm_proxy")


@dataclass(frozen=True)
class Entry:
    """One request line and the judgment it will become (its slot, with the prompt version)."""

    post: PostInput
    slot: Slot
    index: int  # the slot's position in the plan: custom ids stay unique within a batch
    request: LLMRequest

    @property
    def custom_id(self) -> str:
        return f"post-{self.post.post_id}-{self.index}"


def batch_models(judge: RelevanceJudge) -> list[str] | str:
    """The models a judge calls, or why it cannot run as a batch (then it runs interactively)."""
    models = judge.models()
    for model in models:
        reason = unbatchable(model)
        if reason:
            return reason
    return models


def provider_of(model: str) -> tuple[str, str]:
    """(provider, the model name the provider knows), as LiteLLM routes `model`."""
    from signalops_assets.llm.litellm_setup import get_litellm

    name, provider, _, _ = get_litellm().get_llm_provider(model=model)
    return str(provider), str(name)


def unbatchable(model: str) -> str | None:
    if model.startswith("local/"):
        return f"{model} is a local model"
    try:
        provider, _ = provider_of(model)
    except Exception as exc:  # LiteLLM cannot route it: neither can a batch
        return f"{model}: {type(exc).__name__}"
    if provider not in BATCH_PROVIDERS:
        return f"{model}: provider {provider} has no OpenAI-format batch API in LiteLLM"
    return None


# What a batch line's body keeps of the gateway's completion kwargs: never the key, the base
# URL or per-call client settings (timeouts, retries), which the batch API does not take.
BODY_KEYS = ("messages", "temperature", "max_tokens", "response_format")


def request_line(custom_id: str, provider_model: str, kwargs: dict[str, Any]) -> bytes:
    """One JSONL line; `kwargs` is `LLMGateway.completion_kwargs(request)`, so the body holds
    exactly what an interactive call would send (schema, cache breakpoint included)."""
    body: dict[str, Any] = {"model": provider_model}
    body.update({k: kwargs[k] for k in BODY_KEYS if k in kwargs})
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


@dataclass
class Chunk:
    """One batch's worth of request lines, spooled to a temporary file past 8 MB."""

    model: str
    entries: list[Entry] = field(default_factory=list)
    structured: list[bool] = field(default_factory=list)  # per entry: response_format sent
    size: int = 0  # bytes written
    file: IO[bytes] = field(
        default_factory=lambda: tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
    )

    def add(self, entry: Entry, line: bytes, structured: bool) -> None:
        self.entries.append(entry)
        self.structured.append(structured)
        self.file.write(line)
        self.size += len(line)

    def rewound(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file


def chunked(
    entries: Iterator[Entry], gateway: LLMGateway, *, max_requests: int, max_bytes: int
) -> Iterator[Chunk]:
    """Chunks of one model each, none over `max_requests` lines or `max_bytes` bytes; a chunk is
    yielded as soon as it is full, so a backlog is never held in memory whole."""
    open_chunks: dict[str, Chunk] = {}
    names: dict[str, str] = {}
    for entry in entries:
        model = entry.slot.model
        if model not in names:
            names[model] = provider_of(model)[1]
        kwargs = gateway.completion_kwargs(entry.request, model)
        line = request_line(entry.custom_id, names[model], kwargs)
        if len(line) > max_bytes:
            raise ValueError(f"post {entry.post.post_id}: one request is over {max_bytes} bytes")
        chunk = open_chunks.get(model)
        if chunk is not None and (
            len(chunk.entries) >= max_requests or chunk.size + len(line) > max_bytes
        ):
            yield open_chunks.pop(model)
            chunk = None
        if chunk is None:
            chunk = open_chunks[model] = Chunk(model)
        chunk.add(entry, line, "response_format" in kwargs)
    yield from open_chunks.values()
