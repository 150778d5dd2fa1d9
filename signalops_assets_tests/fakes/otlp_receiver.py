"""A local Langfuse stand-in that receives OTLP/HTTP traces, for tests.

Standard library HTTP server on 127.0.0.1 (random port). It accepts what the Langfuse SDK sends:

* ``POST /api/public/otel/v1/traces`` with ``application/x-protobuf`` (optionally gzip/deflate
  encoded) or ``application/json`` bodies, decoded as ``ExportTraceServiceRequest``; Basic auth
  must match the receiver's public/secret key pair or the request gets 401 and is not decoded;
* ``POST /api/public/scores`` (the SDK's score batches: a JSON list), same Basic auth; each
  score is stored by its ``id`` the way Langfuse does it: a score sent again with the same id
  replaces the earlier one (``.scores()``), while ``.sent_scores()`` keeps every one sent;
* the SDK's dataset endpoints, same auth: ``POST /api/public/v2/datasets`` (upsert by name),
  ``GET /api/public/v2/datasets/{name}``, ``POST /api/public/dataset-items`` (upsert by id:
  an item sent again replaces the earlier one), ``GET /api/public/dataset-items?datasetName=``
  (one page holds them all); ``.datasets()`` and ``.dataset_items(name)``;
* ``GET /api/public/projects`` (the keys' project ``PROJECT_ID``, for UI links and dataset runs);
* any other method and path: ``200 {}``.

Every request is recorded (``.requests``) so a test can also assert that *nothing* was sent.
Decoded spans are plain dicts (``.spans()``)::

    {"name", "trace_id", "span_id", "parent_span_id" (hex or None), "attributes" (python values:
     str/int/float/bool, lists for arrays, dicts for kv-lists), "status": {"code", "message"},
     "resource" (attributes), "scope"}

Register the fixture with ``pytest_plugins = ["signalops_assets_tests.fakes.otlp_receiver"]``;
``otlp_receiver.env()`` gives the LANGFUSE_* variables that point the SDK at it.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from signalops_assets_tests.fakes.http_base import LocalHTTPServer

TRACES_PATH = "/api/public/otel/v1/traces"
SCORES_PATH = "/api/public/scores"
DATASETS_PATH = "/api/public/v2/datasets"
PROJECTS_PATH = "/api/public/projects"
PROJECT_ID = "proj-signalops-test"
DATASET_ITEMS_PATH = "/api/public/dataset-items"
_NOW = "2026-12-01T00:00:00.000Z"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes  # after Content-Encoding was undone
    raw_body: bytes  # as received
    authorized: bool

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs if isinstance(kv, KeyValue)}


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON parser wants base64."""
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, val in node.items():
        if key in ("traceId", "spanId", "parentSpanId") and isinstance(val, str):
            val = base64.b64encode(bytes.fromhex(val)).decode()
        out[key] = _hex_ids_to_base64(val)
    return out


def decode_spans(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    {
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None,
                        "attributes": _attributes(span.attributes),
                        "status": {"code": span.status.code, "message": span.status.message},
                        "start_time_unix_nano": span.start_time_unix_nano,
                        "end_time_unix_nano": span.end_time_unix_nano,
                        "resource": resource,
                        "scope": scope_spans.scope.name,
                    }
                )
    return spans


class OTLPReceiver(LocalHTTPServer):
    name = "fake-langfuse"

    def __init__(self, public_key: str | None = None, secret_key: str = "sk-lf-test") -> None:
        super().__init__()
        # A key of its own: Langfuse keeps one client per public key for the life of the
        # process, so each receiver (each test) gets a client that exports to it.
        public_key = public_key or f"pk-lf-test-{uuid.uuid4().hex[:12]}"
        self.public_key, self.secret_key = public_key, secret_key
        credentials = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
        self._expected_auth = f"Basic {credentials}"
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._spans: list[dict[str, Any]] = []
        self._sent_scores: list[dict[str, Any]] = []
        self._scores: dict[str, dict[str, Any]] = {}
        self._datasets: dict[str, dict[str, Any]] = {}
        self._items: dict[str, dict[str, Any]] = {}

    def _server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        return self.threading_server(address, _handler_for(self))

    # -- what tests read ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url

    def env(self) -> dict[str, str]:
        """LANGFUSE_* variables that point the Langfuse SDK at this receiver."""
        return {
            "LANGFUSE_PUBLIC_KEY": self.public_key,
            "LANGFUSE_SECRET_KEY": self.secret_key,
            "LANGFUSE_BASE_URL": self.base_url,
        }

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def spans(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self._spans if name is None or s["name"] == name]

    def span(self, name: str) -> dict[str, Any]:
        """The one span called `name` (AssertionError when there is none or several)."""
        found = self.spans(name)
        assert len(found) == 1, f"expected one span {name!r}, got {len(found)}: {self.names()}"
        return found[0]

    def sent_scores(self) -> list[dict[str, Any]]:
        """Every score received, in order, duplicates included."""
        with self._lock:
            return list(self._sent_scores)

    def scores(self, name: str | None = None) -> list[dict[str, Any]]:
        """The scores as Langfuse would hold them: one per id, the last one sent."""
        with self._lock:
            return [s for s in self._scores.values() if name is None or s["name"] == name]

    def datasets(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._datasets)

    def dataset_items(self, dataset: str) -> list[dict[str, Any]]:
        with self._lock:
            return [i for i in self._items.values() if i["datasetName"] == dataset]

    def _dataset_call(
        self, method: str, path: str, body: Any, query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        with self._lock:
            if method == "GET" and path == DATASET_ITEMS_PATH:
                name = (query.get("datasetName") or [""])[0]
                items = [i for i in self._items.values() if i.get("datasetName") == name]
                meta = {"page": 1, "limit": len(items), "totalItems": len(items), "totalPages": 1}
                return 200, {"data": items, "meta": meta}
            if method == "POST" and path == DATASETS_PATH:
                old = self._datasets.get(body["name"], {})
                dataset = {
                    "id": old.get("id", f"ds-{len(self._datasets) + 1}"),
                    "projectId": PROJECT_ID,
                    "createdAt": _NOW,
                    "updatedAt": _NOW,
                    **{k: v for k, v in body.items() if v is not None},
                    "metadata": body.get("metadata"),
                }
                self._datasets[body["name"]] = dataset
                return 200, dataset
            if method == "GET" and path.startswith(DATASETS_PATH + "/"):
                from urllib.parse import unquote

                found = self._datasets.get(unquote(path[len(DATASETS_PATH) + 1 :]))
                return (200, found) if found else (404, {"message": "dataset not found"})
            if method == "POST" and path == DATASET_ITEMS_PATH:
                dataset = self._datasets.get(body.get("datasetName", ""))
                if dataset is None or not body.get("id"):
                    return 404, {"message": "dataset not found"}
                item = {
                    "status": "ACTIVE",
                    "createdAt": _NOW,
                    "updatedAt": _NOW,
                    "metadata": None,
                    "input": None,
                    "mediaReferences": [],
                    **{k: v for k, v in body.items() if v is not None},
                    "datasetId": dataset["id"],
                }
                self._items[str(body["id"])] = item
                return 200, item
        return 404, {"message": "not found"}

    def names(self) -> list[str]:
        return [s["name"] for s in self.spans()]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._spans.clear()
            self._sent_scores.clear()
            self._scores.clear()
            self._datasets.clear()
            self._items.clear()

    # -- called by the handler ---------------------------------------------------------------

    def _record(self, request: RecordedRequest, spans: list[dict[str, Any]]) -> None:
        with self._lock:
            self._requests.append(request)
            self._spans.extend(spans)

    def _record_scores(self, request: RecordedRequest, scores: list[dict[str, Any]]) -> None:
        with self._lock:
            self._requests.append(request)
            self._sent_scores.extend(scores)
            for score in scores:
                self._scores[str(score["id"])] = score


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks = []
        while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        handler.rfile.readline()
        return b"".join(chunks)
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _decode(raw: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    return raw


def _handler_for(receiver: OTLPReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            raw = _read_body(self) if self.command in ("POST", "PUT", "PATCH") else b""
            body = _decode(raw, self.headers.get("Content-Encoding", "").strip().lower())
            path, _, query = self.path.partition("?")
            authorized = self.headers.get("Authorization") == receiver._expected_auth
            request = RecordedRequest(
                method=self.command,
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw_body=raw,
                authorized=authorized,
            )
            if path == SCORES_PATH and self.command == "POST" and authorized:
                body_json = json.loads(body or b"[]")
                scores = body_json if isinstance(body_json, list) else [body_json]
                if not all(isinstance(s, dict) and s.get("id") and s.get("name") for s in scores):
                    receiver._record(request, [])
                    self._reply(400, b'{"message": "invalid score"}', "application/json")
                    return
                receiver._record_scores(request, scores)
                self._reply(200, b"{}", "application/json")
            elif path == PROJECTS_PATH and self.command == "GET" and authorized:
                receiver._record(request, [])
                project = {"id": PROJECT_ID, "name": "test", "metadata": {}}
                project["organization"] = {"id": "org-test", "name": "test"}
                self._reply(200, json.dumps({"data": [project]}).encode(), "application/json")
            elif path.startswith((DATASETS_PATH, DATASET_ITEMS_PATH)) and authorized:
                receiver._record(request, [])
                status, answer = receiver._dataset_call(
                    self.command, path, json.loads(body) if body else None, parse_qs(query)
                )
                self._reply(status, json.dumps(answer).encode(), "application/json")
            elif path not in (TRACES_PATH, SCORES_PATH) or self.command != "POST":
                receiver._record(request, [])
                self._reply(200, b"{}", "application/json")
            elif not authorized:
                receiver._record(request, [])
                self._reply(401, b'{"message": "invalid credentials"}', "application/json")
            elif "json" in self.headers.get("Content-Type", ""):
                export = json_format.ParseDict(
                    _hex_ids_to_base64(json.loads(body)),
                    ExportTraceServiceRequest(),
                    ignore_unknown_fields=True,
                )
                receiver._record(request, decode_spans(export))
                self._reply(200, b"{}", "application/json")
            else:
                export = ExportTraceServiceRequest.FromString(body)
                receiver._record(request, decode_spans(export))
                response = ExportTraceServiceResponse().SerializeToString()
                self._reply(200, response, "application/x-protobuf")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """A running receiver, stopped after the test."""
    with OTLPReceiver() as receiver:
        yield receiver


@pytest.fixture
def traced(otlp_receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[OTLPReceiver]:
    """Langfuse tracing on, pointed at the receiver (the process tracer follows the LANGFUSE_*
    environment; the receiver's own public key gives it a Langfuse client of its own). Spans
    still queued are flushed at the end; a test reading them earlier calls get_tracer().flush()."""
    from signalops_assets.llm.tracing import get_tracer

    for name, value in otlp_receiver.env().items():
        monkeypatch.setenv(name, value)
    yield otlp_receiver
    get_tracer().flush()
