"""What a judge sends in batch mode: one request line per (post, judge slot), in OpenAI's batch
JSONL format, grouped by model and cut into chunks within the provider's limits. No database,
no network, no Dagster."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.gateway import LLMRequest

ENDPOINT = "/v1/chat/completions"
# Providers whose batch API takes OpenAI's JSONL as it is (LiteLLM's create_batch also knows
# vertex_ai and bedrock, which need their own line format: those judges run interactively).
BATCH_PROVIDERS = ("openai", "azure", "hosted_vllm", "litellm_proxy")


@dataclass(frozen=True)
class Slot:
    """One judgment a post gets from a judge: which model, stored under which key and arm."""

    judge: Any  # an LLMPromptJudge (or FineTunedJudge): builds the request, names the model
    judge_key: str
    experiment_id: str | None = None
    arm: str | None = None
    is_primary: bool = True
    applies: Callable[[PostInput], bool] = lambda _post: True

    @property
    def model(self) -> str:
        return str(self.judge.model)


@dataclass(frozen=True)
class Entry:
    """One request line and the judgment it will become."""

    post: PostInput
    slot: Slot
    index: int  # the slot's position in the plan: custom ids stay unique within a batch

    @property
    def custom_id(self) -> str:
        return f"post-{self.post.post_id}-{self.index}"

    def line(self, provider_model: str) -> bytes:
        return request_line(self.custom_id, provider_model, self.slot.judge.request(self.post))


def batch_slots(judge: Any) -> list[Slot] | str:
    """The slots of a judge, or why it cannot run as a batch (then it runs interactively)."""
    from signalops_assets.judging.ab import ABTestJudge, assign_arm

    if isinstance(judge, ABTestJudge):
        key = judge.done_key
        primary = Slot(judge.primary, key, judge.experiment_id, "primary", True)
        canary = Slot(judge.canary, key, judge.experiment_id, "canary", True)
        if judge.mode == "shadow":
            slots = [
                primary,
                Slot(judge.canary, f"{key}:shadow", judge.experiment_id, "canary", False),
            ]
        else:
            exp, pct = judge.experiment_id, judge.canary_pct

            def in_canary(post: PostInput) -> bool:
                return assign_arm(exp, post.platform_id, pct) == "canary"

            slots = [
                Slot(primary.judge, key, exp, "primary", True, lambda p: not in_canary(p)),
                Slot(canary.judge, key, exp, "canary", True, in_canary),
            ]
    elif hasattr(judge, "request") and hasattr(judge, "model"):
        slots = [Slot(judge, judge.done_key)]
    else:
        return f"{judge.description} has no single request per post"
    for slot in slots:
        reason = unbatchable(slot.model)
        if reason:
            return reason
    return slots


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


def request_line(custom_id: str, provider_model: str, request: LLMRequest) -> bytes:
    body: dict[str, Any] = {
        "model": provider_model,
        "messages": [dict(m) for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    # Structured outputs (#13 item 3) ride along when the request carries a response_format.
    response_format = getattr(request, "response_format", None)
    if response_format is not None:
        body["response_format"] = response_format
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


@dataclass
class Chunk:
    """One batch's worth of request lines, spooled to a temporary file past 8 MB."""

    model: str
    entries: list[Entry] = field(default_factory=list)
    size: int = 0  # bytes written
    file: IO[bytes] = field(
        default_factory=lambda: tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
    )

    def add(self, entry: Entry, line: bytes) -> None:
        self.entries.append(entry)
        self.file.write(line)
        self.size += len(line)

    def rewound(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file


def chunked(entries: Iterator[Entry], *, max_requests: int, max_bytes: int) -> Iterator[Chunk]:
    """Chunks of one model each, none over `max_requests` lines or `max_bytes` bytes; a chunk is
    yielded as soon as it is full, so a backlog is never held in memory whole."""
    open_chunks: dict[str, Chunk] = {}
    names: dict[str, str] = {}
    for entry in entries:
        model = entry.slot.model
        if model not in names:
            names[model] = provider_of(model)[1]
        line = entry.line(names[model])
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
        chunk.add(entry, line)
    yield from open_chunks.values()
