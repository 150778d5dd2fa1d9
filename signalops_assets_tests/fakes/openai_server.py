"""A local, deterministic, OpenAI-compatible HTTP server for tests.

Standard library only. The server speaks just enough of the OpenAI REST API for LiteLLM's
``openai/<name>`` provider (``api_base=server.base_url``) to work against it:

* ``POST /v1/chat/completions`` (any path ending in ``/chat/completions``), optionally streamed;
* ``GET /v1/models``;
* ``/v1/files`` (any purpose; ``openai_files.FileStore``, the ``files`` attribute) and
  ``/v1/batches`` (``openai_batches.BatchStore``, the ``batches`` attribute: create, retrieve,
  cancel, list, with a controllable state machine and injectable item errors).
* ``/v1/fine_tuning/jobs`` (``openai_fine_tuning.py``), whose succeeded jobs' ``ft:`` models
  are then served here (the fake's own ``ft:`` names are a 404 until their job succeeded).

By default every chat completion returns a JSON *judgment*
``{"label": "relevant"|"irrelevant"|"maybe", "confidence": float, "reasoning": str}`` derived
from a stable hash of the last user message, so the same post always gets the same label from
the same model, and two model names disagree on a deterministic subset of posts (A/B tests have
signal). A message may force its label with a marker such as ``<<label:relevant>>``.

Failures are injected per model name (or globally) from the test::

    fake_llm.set_behavior("judge-a", latency_ms=200)
    fake_llm.set_behavior("flaky", status=500, fail_times=2)   # 2 x 500, then success
    fake_llm.set_behavior("limited", status=429, retry_after=0)
    fake_llm.set_behavior("slow", timeout=True)                # hold until released
    fake_llm.set_behavior("chatty", malformed=True)            # prose around broken JSON
    fake_llm.set_behavior("scripted", content="hello")

Register the fixtures with ``pytest_plugins = ["signalops_assets_tests.fakes.openai_server"]``
in the root ``conftest.py``; tests then take ``fake_llm`` (reset around every test) backed by the
session-scoped ``fake_llm_server``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

from signalops_assets.vocab import LABELS
from signalops_assets_tests.fakes.http_base import LocalHTTPServer
from signalops_assets_tests.fakes.openai_batches import BatchStore
from signalops_assets_tests.fakes.openai_files import FileStore
from signalops_assets_tests.fakes.openai_fine_tuning import FineTuningStore
from signalops_assets_tests.fakes.prompt_cache import (
    PromptCache,
    chat_body_from_messages,
    messages_response,
)

__all__ = [
    "LABELS",
    "Behavior",
    "FakeOpenAIServer",
    "MalformedMode",
    "RecordedCall",
    "fake_llm",
    "fake_llm_server",
]


MalformedMode = Literal["truncated", "fenced", "prose", "empty"]

FAULTS = ("500", "429", "malformed", "bad_label", "hang")
"""What ``fault_rate`` injects, chosen uniformly per faulty call."""
"""How a ``malformed`` reply looks.

* ``truncated`` (what ``malformed=True`` means): prose around a fenced JSON object that is cut off
  (not parseable even after stripping the prose and the fence);
* ``fenced``: prose around a *valid* fenced JSON judgment (a lenient parser recovers it);
* ``prose``: no JSON at all;
* ``empty``: the empty string.
"""

_LABEL_MARKER = re.compile(rf"<<label:({'|'.join(LABELS)})>>", re.IGNORECASE)

_DEFAULT_HOLD_S = 30.0
"""How long a ``timeout=True`` request holds its connection unless released earlier."""

_OPENAI_PREFIX = "openai/"


def _normalize_model(model: str) -> str:
    """``openai/gpt-x`` and ``gpt-x`` name the same model (LiteLLM strips the prefix)."""
    return model[len(_OPENAI_PREFIX) :] if model.startswith(_OPENAI_PREFIX) else model


def _hash_int(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _message_text(message: Mapping[str, Any]) -> str:
    """Text of one chat message; multi-part content keeps only its text parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        ]
        return "\n".join(texts)
    return ""


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _message_text(message)
    return _message_text(messages[-1]) if messages else ""


def _count_tokens(text: str) -> int:
    """Deterministic stand-in for a tokenizer: whitespace-separated words."""
    return len(text.split())


@dataclass(frozen=True)
class Behavior:
    """What the server does for one model (or globally). ``None`` means "not set".

    A model's behaviour is laid over the global one field by field: a field the model leaves
    ``None`` falls back to the global value, then to the default.
    """

    latency_ms: float | None = None
    """Sleep this long before answering (also before an injected error)."""
    status: int | None = None
    """Answer with this HTTP error status (an OpenAI-style error body); 2xx is ignored."""
    retry_after: float | None = None
    """``Retry-After`` (seconds) and ``retry-after-ms`` headers sent with an error status; the
    OpenAI SDK then waits that long between its retries instead of its 0.5 s+ back-off."""
    timeout: bool | None = None
    """Hold the connection without answering, then drop it (see ``hold_s``)."""
    hold_s: float | None = None
    """How long ``timeout`` holds; released early by ``reset()``/``release()``/``stop()``."""
    malformed: bool | MalformedMode | None = None
    """Reply with unparseable content (``True`` = ``"truncated"``); see ``MalformedMode``."""
    fail_times: int | None = None
    """Fail only the first N calls (with ``status``, default 500, or ``timeout``), then succeed."""
    content: str | None = None
    """Reply with exactly this content (a scripted reply)."""
    label: str | None = None
    """Force the label of the default judgment."""
    confidence: float | None = None
    """Force the confidence of the default judgment."""
    disagreement: float | None = None
    """Share of posts (0..1) on which this model flips the shared base label (default 0.25)."""
    fault_rate: float | None = None
    """Share of calls (0..1, a seeded random draw per call) that fail with one of ``FAULTS``:
    500, 429 (``Retry-After`` 0.05 s), truncated JSON, a label outside the schema, or a hang
    (``hold_s``, default 30 s). Retried calls draw again."""

    def over(self, base: Behavior) -> Behavior:
        """This behaviour with unset fields taken from ``base``."""
        values = {
            f.name: getattr(self, f.name)
            if getattr(self, f.name) is not None
            else getattr(base, f.name)
            for f in fields(self)
        }
        return Behavior(**values)


def _fault(behavior: Behavior, kind: str) -> Behavior:
    if kind == "500":
        return replace(behavior, status=500, fail_times=None)
    if kind == "429":
        return replace(behavior, status=429, retry_after=0.05, fail_times=None)
    if kind == "malformed":
        return replace(behavior, malformed=True)
    if kind == "bad_label":
        return replace(behavior, content='{"label": "spam", "confidence": 0.9, "reasoning": ""}')
    return replace(behavior, timeout=True, fail_times=None)


@dataclass
class RecordedCall:
    """One request the server received (recorded before any injected behaviour runs)."""

    index: int
    """Order of arrival across all models, from 0 (not reset by ``reset()``)."""
    method: str
    path: str
    model: str
    """The ``model`` field of the request body, as sent (LiteLLM strips ``openai/``)."""
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    headers: dict[str, str]
    """Request headers (lower-cased names) without ``Authorization``."""
    has_authorization: bool
    """Whether an ``Authorization`` header was present."""
    received_at: float
    """``time.monotonic()`` at arrival."""
    outcome: str = field(default="pending", compare=False)
    """``pending`` until answered, then ``ok``, ``error:<status>`` or ``timeout``."""

    @property
    def has_response_format(self) -> bool:
        """Whether the request constrained the answer with a JSON schema (``response_format``;
        translated from ``output_format`` on the Anthropic Messages path)."""
        return isinstance(self.body.get("response_format"), dict)

    @property
    def last_user_text(self) -> str:
        return _last_user_text(self.messages)

    @property
    def prompt_text(self) -> str:
        """All message texts joined with newlines (for ``"..." in call.prompt_text``)."""
        return "\n".join(_message_text(m) for m in self.messages)


class _Held(Exception):
    """Internal: the request was held (timeout behaviour); drop the connection."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    # Headers and body are separate small writes: without TCP_NODELAY, Nagle + delayed ACK add
    # ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    # Idle keep-alive connections are closed after this long so handler threads don't linger.
    timeout = 60

    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _store_route(self, method: str, body: bytes = b"") -> bool:
        """Serve /files/..., /batches/... and /fine_tuning/jobs/... from the owner's stores
        (their own modules); False: not theirs."""
        path, _, query = self.path.partition("?")
        if self.server.owner.fine_tuning.route(self, method, path.rstrip("/"), body):
            return True
        parts = [p for p in path.split("/") if p]
        for name in ("files", "batches"):
            if name in parts:
                rest = parts[parts.index(name) + 1 :]
                owner = self.server.owner
                if name == "files":
                    params = dict(p.partition("=")[::2] for p in query.split("&") if p)
                    content_type = self.headers.get("Content-Type", "")
                    status, out = owner.files.handle(method, rest, content_type, body, params)
                else:
                    status, out = owner.batches.handle(method, rest, body)
                if isinstance(out, bytes):
                    self._send_bytes(status, out, "application/octet-stream")
                else:
                    self._send_json(status, out)
                return True
        return False

    def do_DELETE(self) -> None:
        if not self._store_route("DELETE"):
            self._send_error_json(404, f"Unknown path {self.path}", "invalid_request_error")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if self._store_route("GET"):
            return
        if path.endswith("/models"):
            owner = self.server.owner
            data = [
                {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
                for name in owner.known_models()
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error_json(404, f"Unknown path {self.path}", "invalid_request_error")

    def do_POST(self) -> None:
        raw = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        if self._store_route("POST", raw):
            return
        if not path.endswith(("/chat/completions", "/messages")):
            self._send_error_json(404, f"Unknown path {self.path}", "invalid_request_error")
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
            if path.endswith("/messages"):  # Anthropic dialect
                body = chat_body_from_messages(body)
        except ValueError as exc:
            self._send_error_json(400, f"Invalid JSON body: {exc}", "invalid_request_error")
            return
        owner = self.server.owner
        owner._in_flight(+1)
        try:
            owner._handle_chat(self, path, body)
        except _Held:
            self.close_connection = True
        finally:
            owner._in_flight(-1)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- response helpers ------------------------------------------------------------------

    def _send_bytes(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(
        self, status: int, obj: Any, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        payload = json.dumps(obj).encode("utf-8")
        self._send_bytes(status, payload, "application/json", extra_headers)

    def _send_error_json(
        self,
        status: int,
        message: str,
        err_type: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        body = {"error": {"message": message, "type": err_type, "param": None, "code": status}}
        self._send_json(status, body, extra_headers)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], owner: FakeOpenAIServer) -> None:
        self.owner = owner
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout) resets the connection: expected, not news.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class FakeOpenAIServer(LocalHTTPServer):
    """Deterministic OpenAI-compatible chat-completions server on ``127.0.0.1:<random port>``."""

    name = "fake-openai"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._lock = threading.Lock()
        self._calls: list[RecordedCall] = []
        self._behaviors: dict[str, Behavior] = {}
        self._global = Behavior()
        self._failures: dict[str, int] = {}
        self._counter = itertools.count()
        self._release = threading.Event()
        self._fault_rng = random.Random(20261201)
        self._active = 0
        self.max_in_flight = 0
        """Most chat requests being answered at the same moment (for concurrency limits)."""
        self.prompt_cache = PromptCache()
        # Tokens per whitespace-separated word in reported usage (English text: about 1.3).
        self.tokens_per_word = 1.0
        self.files = FileStore()
        self.batches = BatchStore(self.files, self.batch_completion, _count_tokens)
        self.fine_tuning = FineTuningStore(self.files)

    # -- lifecycle (start/stop/port/url: LocalHTTPServer) -----------------------------------

    def _server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        self._release = threading.Event()
        return _HTTPServer(address, self)

    def _before_shutdown(self) -> None:
        self._release.set()  # handlers held by `hold()` return now

    def _after_shutdown(self, httpd: ThreadingHTTPServer) -> None:
        assert isinstance(httpd, _HTTPServer)
        httpd.close_all_connections()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: LiteLLM's ``api_base`` for ``openai/<name>`` models."""
        return f"{self.url}/v1"

    # -- configuration -------------------------------------------------------------------------

    def set_behavior(
        self,
        model: str | None = None,
        *,
        latency_ms: float | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        timeout: bool | None = None,
        hold_s: float | None = None,
        malformed: bool | MalformedMode | None = None,
        fail_times: int | None = None,
        content: str | None = None,
        label: str | None = None,
        confidence: float | None = None,
        disagreement: float | None = None,
        fault_rate: float | None = None,
    ) -> Behavior:
        """Replace the behaviour of ``model`` (``openai/`` prefix optional), or the global one
        when ``model`` is None. Also restarts that model's ``fail_times`` counter."""
        if label is not None and label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {label!r}")
        if fail_times is not None and fail_times < 0:
            raise ValueError("fail_times must be >= 0")
        behavior = Behavior(
            latency_ms=latency_ms,
            status=status,
            retry_after=retry_after,
            timeout=timeout,
            hold_s=hold_s,
            malformed=malformed,
            fail_times=fail_times,
            content=content,
            label=label,
            confidence=confidence,
            disagreement=disagreement,
            fault_rate=fault_rate,
        )
        with self._lock:
            if model is None:
                self._global = behavior
                self._failures.clear()
            else:
                key = _normalize_model(model)
                self._behaviors[key] = behavior
                self._failures.pop(key, None)
        return behavior

    def set_content(self, model: str | None, content: str) -> None:
        """Shortcut: ``model`` always replies ``content`` (other behaviour of it is kept)."""
        with self._lock:
            if model is None:
                self._global = replace(self._global, content=content)
            else:
                key = _normalize_model(model)
                self._behaviors[key] = replace(
                    self._behaviors.get(key, Behavior()), content=content
                )

    def clear_behavior(self, model: str | None = None) -> None:
        """Forget the behaviour of ``model`` (or the global one)."""
        with self._lock:
            if model is None:
                self._global = Behavior()
            else:
                self._behaviors.pop(_normalize_model(model), None)
                self._failures.pop(_normalize_model(model), None)

    def behavior_for(self, model: str) -> Behavior:
        """The effective behaviour (model over global) for ``model``."""
        with self._lock:
            return self._behaviors.get(_normalize_model(model), Behavior()).over(self._global)

    def _in_flight(self, delta: int) -> None:
        with self._lock:
            self._active += delta
            self.max_in_flight = max(self.max_in_flight, self._active)

    def release(self) -> None:
        """Let every request currently held by ``timeout=True`` go (their connections drop)."""
        with self._lock:
            old, self._release = self._release, threading.Event()
        old.set()

    def reset(self) -> None:
        """Forget behaviours, recorded calls and failure counters; release held requests."""
        self.release()
        self.fine_tuning.reset()
        with self._lock:
            self._calls.clear()
            self.max_in_flight = self._active
            self._behaviors.clear()
            self._global = Behavior()
            self._failures.clear()
        self.prompt_cache.clear()
        self.tokens_per_word = 1.0
        self.files.clear()
        self.batches.reset()

    # -- inspection ----------------------------------------------------------------------------

    def calls(self, model: str | None = None) -> list[RecordedCall]:
        """Recorded chat-completion requests in arrival order, optionally for one model."""
        with self._lock:
            calls = list(self._calls)
        if model is None:
            return calls
        key = _normalize_model(model)
        return [c for c in calls if _normalize_model(c.model) == key]

    def call_count(self, model: str | None = None) -> int:
        return len(self.calls(model))

    def last_call(self, model: str | None = None) -> RecordedCall:
        calls = self.calls(model)
        if not calls:
            raise AssertionError(f"no calls recorded for model {model!r}")
        return calls[-1]

    def known_models(self) -> list[str]:
        with self._lock:
            names = set(self._behaviors) | {_normalize_model(c.model) for c in self._calls}
        return sorted(names)

    # -- deterministic judgments ---------------------------------------------------------------

    def judgment_for(self, model: str, text: str) -> dict[str, Any]:
        """The judgment ``model`` returns (absent overrides) for a last user message ``text``."""
        return self._judgment(_normalize_model(model), text, self.behavior_for(model))

    @staticmethod
    def base_label(text: str) -> str:
        """The label every model starts from for ``text`` (before per-model disagreement)."""
        marker = _LABEL_MARKER.search(text)
        if marker:
            return marker.group(1).lower()
        bucket = _hash_int("base", text.strip()) % 100
        if bucket < 40:
            return "relevant"
        if bucket < 80:
            return "irrelevant"
        return "maybe"

    def _judgment(self, model: str, text: str, behavior: Behavior) -> dict[str, Any]:
        marker = _LABEL_MARKER.search(text)
        label = self.base_label(text)
        disagreement = 0.25 if behavior.disagreement is None else behavior.disagreement
        h = _hash_int("model", model, text.strip())
        if not marker and (h % 10_000) < disagreement * 10_000:
            others = [x for x in LABELS if x != label]
            label = others[(h >> 20) % len(others)]
        if behavior.label is not None:
            label = behavior.label
        confidence = behavior.confidence
        if confidence is None:
            confidence = round(0.55 + ((h >> 32) % 4_400) / 10_000, 2)  # 0.55 .. 0.99
        words = text.split()
        snippet = " ".join(words[:8])
        reasoning = f"[{model}] judged {label} from {len(words)} words: {snippet!r}"
        return {"label": label, "confidence": confidence, "reasoning": reasoning}

    @staticmethod
    def _malformed_content(mode: MalformedMode, judgment: dict[str, Any]) -> str:
        valid = json.dumps(judgment)
        if mode == "fenced":
            return (
                f"Sure! Here is my judgment:\n```json\n{valid}\n```\nLet me know if you need more."
            )
        if mode == "prose":
            return (
                f"I think this post is probably {judgment['label']}, but it is hard to say "
                "without more context."
            )
        if mode == "empty":
            return ""
        # truncated: prose around a fenced object that is cut off mid-way
        cut = valid[: max(1, len(valid) // 2)]
        return f"Sure! Here is my judgment:\n```json\n{cut}\n```\nHope that helps!"

    # -- request handling (runs on the handler thread) -----------------------------------------

    def _handle_chat(self, handler: _Handler, path: str, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        key = _normalize_model(model)
        raw_messages = body.get("messages")
        messages: list[dict[str, Any]] = (
            [m for m in raw_messages if isinstance(m, dict)]
            if isinstance(raw_messages, list)
            else []
        )
        headers = {k.lower(): v for k, v in handler.headers.items() if k.lower() != "authorization"}
        with self._lock:
            behavior = self._behaviors.get(key, Behavior()).over(self._global)
            call = RecordedCall(
                index=next(self._counter),
                method="POST",
                path=path,
                model=model,
                messages=messages,
                body=body,
                headers=headers,
                has_authorization="authorization" in {k.lower() for k in handler.headers},
                received_at=time.monotonic(),
            )
            self._calls.append(call)
            release = self._release
            if behavior.fault_rate and self._fault_rng.random() < behavior.fault_rate:
                behavior = _fault(behavior, self._fault_rng.choice(FAULTS))
                call.outcome = "fault"
            # Decide now whether this call is one of the first ``fail_times`` failures.
            status = behavior.status
            if status is None and behavior.fail_times and not behavior.timeout:
                status = 500  # ``fail_times`` alone fails with 500
            failing = bool(behavior.timeout) or (status is not None and status >= 300)
            if failing and behavior.fail_times is not None:
                done = self._failures.get(key, 0)
                if done < behavior.fail_times:
                    self._failures[key] = done + 1
                else:
                    failing = False

        if behavior.latency_ms:
            # Interruptible by reset()/stop() so a slow test never hangs the suite.
            release.wait(behavior.latency_ms / 1000.0)

        if failing and behavior.timeout:
            release.wait(_DEFAULT_HOLD_S if behavior.hold_s is None else behavior.hold_s)
            call.outcome = "timeout"
            raise _Held

        if failing and status is not None:
            extra: dict[str, str] = {}
            if behavior.retry_after is not None:
                extra["Retry-After"] = f"{behavior.retry_after:g}"
                # The OpenAI SDK prefers retry-after-ms and ignores delays <= 0 (falling back to
                # its 0.5 s, 1 s, 2 s... back-off), so 0 is sent as 1 ms: "retry right away".
                extra["retry-after-ms"] = str(max(1, round(behavior.retry_after * 1000)))
            err_type = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error")
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            call.outcome = f"error:{status}"
            message = f"Injected {status} {phrase} for model {model!r}"
            if status == 401:  # as some providers do: the rejected key echoed back
                given = handler.headers.get("Authorization", "").removeprefix("Bearer ")
                message = f"Incorrect API key provided: {given}.\nSee your dashboard."
            handler._send_error_json(status, message, err_type, extra)
            return

        if not self.fine_tuning.serves(key):
            call.outcome = "error:404"
            handler._send_error_json(
                404, f"The model `{model}` does not exist", "invalid_request_error"
            )
            return
        user_text = _last_user_text(messages)
        content = self._content(key, user_text, behavior)

        def count(text: str) -> int:
            return round(_count_tokens(text) * self.tokens_per_word)

        anthropic = path.endswith("/messages")
        cache = self.prompt_cache.usage(key, messages, count, explicit=anthropic)
        prompt_tokens = cache.prompt_tokens
        completion_tokens = count(content)
        completion_id = (
            "chatcmpl-fake-"
            + hashlib.sha256(f"{call.index}:{model}:{user_text}".encode()).hexdigest()[:24]
        )
        created = int(time.time())
        call.outcome = "ok"
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cache.cached_tokens},
        }
        if anthropic:
            answer = messages_response(
                completion_id, model, content, cache, completion_tokens, body
            )
            handler._send_json(200, answer)
            return
        if body.get("stream"):
            handler._send_bytes(
                200,
                self._sse_body(completion_id, created, model, content, usage, body),
                "text/event-stream",
            )
            return
        handler._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
        )

    def _content(self, key: str, user_text: str, behavior: Behavior) -> str:
        judgment = self._judgment(key, user_text, behavior)
        if behavior.content is not None:
            return behavior.content
        if behavior.malformed:
            mode: MalformedMode = "truncated" if behavior.malformed is True else behavior.malformed
            return self._malformed_content(mode, judgment)
        return json.dumps(judgment)

    def batch_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat completion a batch line gets: the model's content behaviours (content,
        malformed, label, ...) apply; its HTTP faults do not (batches inject item errors)."""
        model = str(body.get("model", ""))
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        content = self._content(
            _normalize_model(model), _last_user_text(messages), self.behavior_for(model)
        )
        prompt = sum(_count_tokens(_message_text(m)) for m in messages)
        completion = _count_tokens(content)
        return {
            "id": "chatcmpl-fake-batch-" + hashlib.sha256(content.encode()).hexdigest()[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    @staticmethod
    def _sse_body(
        completion_id: str,
        created: int,
        model: str,
        content: str,
        usage: dict[str, Any],
        body: dict[str, Any],
    ) -> bytes:
        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        events = [chunk({"role": "assistant", "content": ""}, None)]
        pieces = re.findall(r"\S+\s*|\s+", content) or [""]
        events += [chunk({"content": piece}, None) for piece in pieces]
        events.append(chunk({}, "stop"))
        stream_options = body.get("stream_options")
        if isinstance(stream_options, dict) and stream_options.get("include_usage"):
            final = chunk({}, None)
            final["choices"] = []
            final["usage"] = usage
            events.append(final)
        lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
        return "".join(lines).encode("utf-8")


# -- pytest fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeOpenAIServer]:
    """One fake server for the whole session (started lazily, stopped at session end)."""
    server = FakeOpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_llm(fake_llm_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    """The session server, reset (behaviours, calls, held requests) before and after each test."""
    fake_llm_server.reset()
    try:
        yield fake_llm_server
    finally:
        fake_llm_server.reset()
