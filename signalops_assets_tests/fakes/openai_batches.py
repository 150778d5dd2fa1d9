"""The fake OpenAI server's `/v1/batches`: the batch API's state machine over `FileStore`.

``validating → in_progress → completed | failed | expired`` (and ``cancelling → cancelled``).
Each retrieve advances a batch one state (``polls_per_state`` retrieves per state), or a test
moves it with ``advance()`` when ``auto=False``. On reaching its outcome the batch runs every
request line through the server's own chat completion (same deterministic judgments, same
``content``/``malformed`` behaviours) and writes an output file (status 200 lines) and an error
file (injected item errors, and for ``expired`` the lines never reached)::

    fake_llm.batches.plan(outcome="expired", processed=3)         # 3 lines done, then expiry
    fake_llm.batches.plan(item_errors={"post-7": 500})            # one line fails
    fake_llm.batches.plan(outcome="failed")                       # the whole batch fails

Usage reports ``prompt_tokens_details.cached_tokens``: a request whose messages before the last
were seen before (and whose prompt has ≥ 1,024 tokens, OpenAI's minimum) has that prefix cached,
in 128-token steps as OpenAI reports it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from signalops_assets_tests.fakes.openai_files import FileStore

__all__ = ["BatchPlan", "BatchStore", "PrefixCache"]

Outcome = Literal["completed", "failed", "expired"]
Completer = Callable[[dict[str, Any]], dict[str, Any]]  # chat body → chat completion JSON
ENDPOINTS = ("/v1/chat/completions",)


@dataclass(frozen=True)
class BatchPlan:
    outcome: Outcome = "completed"
    polls_per_state: int = 1
    auto: bool = True  # retrieves advance the state; False: only advance() does
    processed: int | None = None  # expired: lines done before the window closed
    item_errors: dict[str, int] = field(default_factory=dict)  # custom_id → HTTP status


class PrefixCache:
    """Which message prefixes a provider has seen, for ``cached_tokens``."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def cached_tokens(self, messages: list[dict[str, Any]], count: Callable[[str], int]) -> int:
        prefix = messages[:-1]
        total = sum(count(str(m.get("content", ""))) for m in messages)
        prefix_tokens = sum(count(str(m.get("content", ""))) for m in prefix)
        key = hashlib.sha256(json.dumps(prefix, sort_keys=True).encode()).hexdigest()
        with self._lock:
            seen = key in self._seen
            self._seen.add(key)
        if not seen or total < 1024:
            return 0
        return prefix_tokens // 128 * 128

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, Any] | None
    plan: BatchPlan
    created_at: int
    status: str = "validating"
    polls: int = 0
    times: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "completed": 0, "failed": 0}
    )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 86_400,
            **{f"{state}_at": self.times.get(state) for state in _TIMES},
            "request_counts": dict(self.counts),
            "metadata": self.metadata,
        }


_TIMES = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
TERMINAL = ("completed", "failed", "expired", "cancelled")


class BatchStore:
    def __init__(self, files: FileStore, completer: Completer, count: Callable[[str], int]):
        self._files, self._complete, self._count = files, completer, count
        self._lock = threading.Lock()
        self._batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)
        self._plan = BatchPlan()
        self.cache = PrefixCache()
        self.executed: list[dict[str, Any]] = []  # every request line run, in order

    def plan(self, **changes: Any) -> BatchPlan:
        """The plan for batches created from now on (fields of `BatchPlan`)."""
        with self._lock:
            self._plan = BatchPlan(**changes)
            return self._plan

    def reset(self) -> None:
        with self._lock:
            self._batches.clear()
            self._plan = BatchPlan()
            self.executed.clear()
        self.cache.clear()

    def get(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self._batches.get(batch_id)
            return None if batch is None else batch.as_json()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b.as_json() for b in self._batches.values()]

    def advance(self, batch_id: str | None = None, steps: int = 1) -> None:
        """Move one batch (or every batch) `steps` states on, whatever the plan's `auto`."""
        with self._lock:
            targets = [self._batches[batch_id]] if batch_id else list(self._batches.values())
            for batch in targets:
                for _ in range(steps):
                    self._step(batch)

    # -- the state machine (called with the lock held) -----------------------------------------

    def _step(self, batch: _Batch) -> None:
        now = int(time.time())
        if batch.status == "validating":
            lines, problem = self._validate(batch)
            if problem is not None or batch.plan.outcome == "failed":
                batch.errors = [problem or {"code": "batch_failed", "message": "Injected failure"}]
                batch.status, batch.times["failed"] = "failed", now
                return
            batch.counts["total"] = len(lines)
            batch.status, batch.times["in_progress"] = "in_progress", now
        elif batch.status == "in_progress":
            self._run(batch, now)
        elif batch.status == "cancelling":
            batch.status, batch.times["cancelled"] = "cancelled", now

    def _validate(self, batch: _Batch) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        lines: list[dict[str, Any]] = []
        ids: set[str] = set()
        models: set[str] = set()
        for number, raw in enumerate(self._files.content(batch.input_file_id).splitlines(), 1):
            try:
                line = json.loads(raw)
                custom_id, body = str(line["custom_id"]), line["body"]
                if line.get("method") != "POST" or line.get("url") != batch.endpoint:
                    raise ValueError("method must be POST and url the batch's endpoint")
                models.add(str(body["model"]))
            except (ValueError, KeyError, TypeError) as exc:
                return [], {"code": "invalid_request", "message": str(exc), "line": number}
            if custom_id in ids:
                return [], {"code": "duplicate_custom_id", "message": custom_id, "line": number}
            ids.add(custom_id)
            lines.append(line)
        if len(models) > 1:
            return [], {"code": "mixed_models", "message": ", ".join(sorted(models))}
        return lines, None

    def _run(self, batch: _Batch, now: int) -> None:
        lines, _ = self._validate(batch)
        expired = batch.plan.outcome == "expired"
        reached = lines[: batch.plan.processed] if expired and batch.plan.processed else lines
        if expired and batch.plan.processed is None:
            reached = lines[: len(lines) // 2]
        output: list[str] = []
        errors: list[str] = []
        for index, line in enumerate(lines):
            custom_id = line["custom_id"]
            entry_id = f"batch_req_{hashlib.sha256(custom_id.encode()).hexdigest()[:16]}"
            if index >= len(reached):
                error = {"code": "batch_expired", "message": "Not executed before expiry."}
                errors.append(
                    json.dumps(
                        {"id": entry_id, "custom_id": custom_id, "response": None, "error": error}
                    )
                )
                continue
            status = batch.plan.item_errors.get(custom_id, 200)
            self.executed.append(line)
            if status == 200:
                body = self._complete(line["body"])
                messages = line["body"].get("messages") or []
                cached = self.cache.cached_tokens(messages, self._count)
                body["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
            else:
                body = {"error": {"message": f"Injected {status}", "type": "server_error"}}
            response = {"status_code": status, "request_id": entry_id, "body": body}
            record = json.dumps(
                {"id": entry_id, "custom_id": custom_id, "response": response, "error": None}
            )
            (output if status == 200 else errors).append(record)
        batch.counts.update(completed=len(output), failed=len(errors))
        if output:
            data = ("\n".join(output) + "\n").encode()
            batch.output_file_id = self._files.add(data, purpose="batch_output").id
        if errors:
            data = ("\n".join(errors) + "\n").encode()
            batch.error_file_id = self._files.add(data, purpose="batch_output").id
        batch.times["finalizing"] = now
        batch.status = "expired" if expired else "completed"
        batch.times[batch.status] = now

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, method: str, rest: list[str], body: bytes) -> tuple[int, Any]:
        if method == "POST" and not rest:
            return self._create(body)
        if method == "GET" and not rest:
            return 200, {"object": "list", "data": self.list(), "has_more": False}
        with self._lock:
            batch = self._batches.get(rest[0]) if rest else None
            if batch is None:
                return 404, _error(f"No such batch: {rest[0] if rest else ''}", 404)
            if method == "GET" and len(rest) == 1:
                batch.polls += 1
                if batch.plan.auto and batch.polls % batch.plan.polls_per_state == 0:
                    self._step(batch)
                return 200, batch.as_json()
            if method == "POST" and rest[1:] == ["cancel"]:
                if batch.status not in TERMINAL:
                    batch.status, batch.times["cancelling"] = "cancelling", int(time.time())
                return 200, batch.as_json()
        return 404, _error(f"Unknown batches route {'/'.join(rest)}", 404)

    def _create(self, raw: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(raw or b"{}")
            input_file_id = str(request["input_file_id"])
        except (ValueError, KeyError, TypeError):
            return 400, _error("input_file_id is required")
        if request.get("endpoint") not in ENDPOINTS:
            return 400, _error(f"unsupported endpoint {request.get('endpoint')!r}")
        stored = self._files.get(input_file_id)
        if stored is None or stored.purpose != "batch":
            return 400, _error(f"{input_file_id} is not a file with purpose 'batch'")
        with self._lock:
            batch = _Batch(
                id=f"batch_fake{next(self._ids):06d}",
                input_file_id=input_file_id,
                endpoint=str(request["endpoint"]),
                metadata=request.get("metadata"),
                plan=self._plan,
                created_at=int(time.time()),
            )
            self._batches[batch.id] = batch
            return 200, batch.as_json()


def _error(message: str, code: int = 400) -> dict[str, Any]:
    kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
