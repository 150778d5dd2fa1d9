"""A local, in-memory fake of the Argilla 2.x REST API for tests of the real ``argilla`` SDK.

Standard library only. It implements exactly what ``argilla`` 2.8 calls (read from the installed
SDK's ``argilla/_api/*``) on the paths this project uses, with the response shapes the SDK's
pydantic models parse, and the server-side rules that matter for our logic (checked against the
argilla-server source):

* auth: every ``/api/...`` request needs header ``X-Argilla-Api-Key`` equal to the server's key,
  else ``401 {"detail": ...}`` (the body never echoes the key);
* ``GET /api/v1/me``; ``GET /api/v1/me/workspaces``; ``GET /api/v1/workspaces/{id}``;
  ``GET /api/v1/users/{id}``;
* ``GET /api/v1/me/datasets``; ``POST /api/v1/datasets`` (409 on a duplicate name in the
  workspace); ``GET|PATCH /api/v1/datasets/{id}`` (a PATCH that changes the distribution of
  a dataset with responses is refused with 422, as argilla-server's
  ``UpdateDistributionWithExistingResponsesError``); ``PUT /api/v1/datasets/{id}/publish``
  (422 without fields or questions);
* ``GET|POST /api/v1/datasets/{id}/fields``, ``.../questions``; ``GET .../vectors-settings``;
  ``POST /api/v1/datasets/{id}/metadata-properties`` and
  ``GET /api/v1/me/datasets/{id}/metadata-properties`` (the SDK lists them under ``/me``);
* ``PUT /api/v1/datasets/{id}/records/bulk`` (upsert; like the real server an existing record —
  matched by ``external_id``, else by server ``id`` — gets its *metadata* replaced and its
  responses upserted per user, but its *fields are not updated*),
  ``POST /api/v1/datasets/{id}/records/search`` (filters: record status/id/external_id,
  response status, response value per question, metadata terms/range; plain text query);
  ``include=responses|suggestions|vectors`` is honoured.

Only the routes the tests' SDK calls reach are served (the rest answer 404 or 405), so a new
call the SDK makes shows up as a failing test rather than as behaviour nobody checked.

Records are keyed by ``(dataset id, external id)``: a duplicate can't hide, and tests inspect
them by the id the client chose. Test API::

    server.add_response("acme-dpo-review", "pair-7-ab12",
                        {"verdict": "swap", "ranking": ["b", "a"]}, username="ana")
    server.records("acme-dpo-review")        # list of record dicts, in insertion order
    server.record_count("acme-dpo-review")
    server.fail_next("PUT", r"/records/bulk$", status=500)   # inject one failure
    server.requests                          # [(method, path), ...] seen since reset()

Register with ``pytest_plugins = ["signalops_assets_tests.fakes.argilla_server"]``; tests take
``fake_argilla`` (reset around every test) backed by the session-scoped ``fake_argilla_server``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from signalops_assets_tests.fakes.http_base import LocalHTTPServer

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_WORKSPACE",
    "FakeArgillaServer",
    "fake_argilla",
    "fake_argilla_server",
]

DEFAULT_API_KEY = "argilla.apikey-for-tests"
DEFAULT_WORKSPACE = "argilla"
_OWNER = "owner"

Json = dict[str, Any]


class _HTTPError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    times: int


_Route = tuple[str, re.Pattern[str], Callable[..., Any]]


class FakeArgillaServer(LocalHTTPServer):
    """In-memory Argilla 2.x REST API on 127.0.0.1 (random port), served from a daemon thread."""

    name = "fake-argilla"

    def __init__(self, api_key: str = DEFAULT_API_KEY, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.api_key = api_key
        self._lock = threading.RLock()
        self._routes = self._build_routes()
        self.reset()

    # -- lifecycle (start/stop/port/url: LocalHTTPServer) -----------------------------------

    def _server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        server = self

        class Handler(_Handler):
            fake = server

        return self.threading_server(address, Handler)

    # -- test API ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything but the owner user and the default ``argilla`` workspace."""
        with self._lock:
            self.users: dict[str, Json] = {}
            self.workspaces: dict[str, Json] = {}
            self.datasets: dict[str, Json] = {}
            self._fields: dict[str, list[Json]] = {}
            self._questions: dict[str, list[Json]] = {}
            self._metadata: dict[str, list[Json]] = {}
            self._vectors: dict[str, list[Json]] = {}
            # dataset id -> external id -> record (insertion order = server order)
            self._records: dict[str, dict[str, Json]] = {}
            self._record_index: dict[str, tuple[str, str]] = {}  # server id -> (dataset, ext)
            self._failures: list[_Failure] = []
            self.requests: list[tuple[str, str]] = []
            self.owner_id = self.add_user(_OWNER, role="owner")
            self.add_workspace(DEFAULT_WORKSPACE)

    def add_user(self, username: str, role: str = "annotator") -> str:
        with self._lock:
            for user in self.users.values():
                if user["username"] == username:
                    return str(user["id"])
            now = _now()
            user_id = _new_id()
            self.users[user_id] = {
                "id": user_id,
                "username": username,
                "first_name": username,
                "last_name": None,
                "role": role,
                "inserted_at": now,
                "updated_at": now,
            }
            return user_id

    def add_workspace(self, name: str) -> str:
        with self._lock:
            for ws in self.workspaces.values():
                if ws["name"] == name:
                    return str(ws["id"])
            now = _now()
            ws_id = _new_id()
            self.workspaces[ws_id] = {
                "id": ws_id,
                "name": name,
                "inserted_at": now,
                "updated_at": now,
            }
            return ws_id

    def dataset(self, name: str, workspace: str = DEFAULT_WORKSPACE) -> Json | None:
        """The dataset ``name`` in ``workspace`` (a copy), or None."""
        with self._lock:
            found = self._find_dataset(name, workspace)
            return copy.deepcopy(found) if found else None

    def records(self, dataset: str, workspace: str = DEFAULT_WORKSPACE) -> list[Json]:
        """Copies of the records of a dataset, in insertion order, responses included."""
        with self._lock:
            ds = self._require_dataset(dataset, workspace)
            return [
                self._record_json(r, {"responses", "suggestions", "vectors"})
                for r in self._records[ds["id"]].values()
            ]

    def record_count(self, dataset: str, workspace: str = DEFAULT_WORKSPACE) -> int:
        with self._lock:
            return len(self._records[self._require_dataset(dataset, workspace)["id"]])

    def schema(self, dataset: str, workspace: str = DEFAULT_WORKSPACE) -> dict[str, list[Json]]:
        """``{"fields": [...], "questions": [...], "metadata": [...], "vectors": [...]}``."""
        with self._lock:
            ds_id = self._require_dataset(dataset, workspace)["id"]
            return copy.deepcopy(
                {
                    "fields": self._fields[ds_id],
                    "questions": self._questions[ds_id],
                    "metadata": self._metadata[ds_id],
                    "vectors": self._vectors[ds_id],
                }
            )

    def add_response(
        self,
        dataset: str,
        record_external_id: str,
        values: Mapping[str, Any],
        status: str = "submitted",
        username: str = "reviewer",
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Json:
        """Store (or replace) ``username``'s response to a record, as the Argilla UI would.

        ``values`` maps question name to a plain value (``{"verdict": "swap"}``); a ranking may be
        given as a list of option values, best first (``["b", "a"]``), and is stored in the
        server's ``[{"value": "b", "rank": 1}, ...]`` shape. Already wrapped values
        (``{"value": ...}``) are stored as they are. The user is created if needed.
        """
        if status not in ("submitted", "draft", "discarded"):
            raise ValueError(f"unknown response status {status!r}")
        with self._lock:
            ds = self._require_dataset(dataset, workspace)
            record = self._records[ds["id"]].get(record_external_id)
            if record is None:
                known = list(self._records[ds["id"]])
                raise KeyError(f"no record {record_external_id!r} in {dataset!r}; have {known}")
            questions = {q["name"]: q for q in self._questions[ds["id"]]}
            wrapped: Json = {}
            for name, value in values.items():
                question = questions.get(name)
                if question is None:
                    raise KeyError(f"no question {name!r} in {dataset!r}; have {list(questions)}")
                if isinstance(value, Mapping) and "value" in value:
                    wrapped[name] = dict(value)
                elif question["settings"]["type"] == "ranking" and isinstance(value, list):
                    wrapped[name] = {
                        "value": [
                            v if isinstance(v, Mapping) else {"value": v, "rank": i}
                            for i, v in enumerate(value, start=1)
                        ]
                    }
                else:
                    wrapped[name] = {"value": value}
            user_id = self.add_user(username)
            response = self._upsert_response(record, user_id, wrapped, status)
            self._refresh_status(ds, record)
            return copy.deepcopy(response)

    def fail_next(
        self, method: str, path_regex: str, status: int = 500, body: Any = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` + ``path_regex`` with an error."""
        detail = body if body is not None else {"detail": f"injected failure {status}"}
        with self._lock:
            self._failures.append(
                _Failure(method.upper(), re.compile(path_regex), status, detail, times)
            )

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[str]:
        """Paths of the requests seen since ``reset()``, optionally filtered."""
        pattern = re.compile(path_regex) if path_regex else None
        with self._lock:
            return [
                p
                for m, p in self.requests
                if (method is None or m == method.upper())
                and (pattern is None or pattern.search(p))
            ]

    # -- internals: state helpers --------------------------------------------------------------

    def _find_dataset(self, name: str, workspace: str) -> Json | None:
        ws_ids = [w["id"] for w in self.workspaces.values() if w["name"] == workspace]
        for ds in self.datasets.values():
            if ds["name"] == name and ds["workspace_id"] in ws_ids:
                return ds
        return None

    def _require_dataset(self, name: str, workspace: str) -> Json:
        ds = self._find_dataset(name, workspace)
        if ds is None:
            raise KeyError(f"no dataset {name!r} in workspace {workspace!r}")
        return ds

    def _get_dataset(self, dataset_id: str) -> Json:
        ds = self.datasets.get(dataset_id)
        if ds is None:
            raise _HTTPError(404, f"Dataset with id `{dataset_id}` not found")
        return ds

    def _upsert_response(self, record: Json, user_id: str, values: Json, status: str) -> Json:
        now = _now()
        existing: Json
        for existing in record["responses"]:
            if existing["user_id"] == user_id:
                existing.update(values=values, status=status, updated_at=now)
                return existing
        response: Json = {
            "id": _new_id(),
            "values": values,
            "status": status,
            "record_id": record["id"],
            "user_id": user_id,
            "inserted_at": now,
            "updated_at": now,
        }
        record["responses"].append(response)
        return response

    @staticmethod
    def _refresh_status(ds: Json, record: Json) -> None:
        submitted = sum(1 for r in record["responses"] if r["status"] == "submitted")
        min_submitted = int(ds["distribution"]["min_submitted"])
        record["status"] = "completed" if submitted >= min_submitted else "pending"

    @staticmethod
    def _record_json(record: Json, include: set[str]) -> Json:
        out = {
            k: copy.deepcopy(v)
            for k, v in record.items()
            if k not in ("responses", "suggestions", "vectors")
        }
        if "responses" in include:
            out["responses"] = copy.deepcopy(record["responses"])
        if "suggestions" in include:
            out["suggestions"] = copy.deepcopy(record["suggestions"])
        if "vectors" in include:
            out["vectors"] = copy.deepcopy(record["vectors"])
        return out

    # -- internals: HTTP dispatch --------------------------------------------------------------

    def _build_routes(self) -> list[_Route]:
        uid = r"(?P<id>[0-9a-fA-F-]{36})"
        table: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", r"/api/v1/me", self._me),
            ("GET", r"/api/v1/me/workspaces", self._list_workspaces),
            ("GET", r"/api/v1/me/datasets", self._list_datasets),
            ("GET", rf"/api/v1/me/datasets/{uid}/metadata-properties", self._list_metadata),
            ("GET", rf"/api/v1/users/{uid}", self._get_user),
            ("GET", rf"/api/v1/workspaces/{uid}", self._get_workspace),
            ("POST", r"/api/v1/datasets", self._create_dataset),
            ("GET", rf"/api/v1/datasets/{uid}", self._get_dataset_route),
            ("PATCH", rf"/api/v1/datasets/{uid}", self._update_dataset),
            ("PUT", rf"/api/v1/datasets/{uid}/publish", self._publish_dataset),
            ("GET", rf"/api/v1/datasets/{uid}/fields", self._list_fields),
            ("POST", rf"/api/v1/datasets/{uid}/fields", self._create_field),
            ("GET", rf"/api/v1/datasets/{uid}/questions", self._list_questions),
            ("POST", rf"/api/v1/datasets/{uid}/questions", self._create_question),
            ("POST", rf"/api/v1/datasets/{uid}/metadata-properties", self._create_metadata),
            ("GET", rf"/api/v1/datasets/{uid}/vectors-settings", self._list_vectors),
            ("PUT", rf"/api/v1/datasets/{uid}/records/bulk", self._upsert_records),
            ("POST", rf"/api/v1/datasets/{uid}/records/search", self._search_records),
        ]
        return [(m, re.compile(p + r"/?"), h) for m, p, h in table]

    def _dispatch(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        with self._lock:
            self.requests.append((method, path))
            if path.startswith("/api/") and headers.get("X-Argilla-Api-Key") != self.api_key:
                return 401, {"detail": "Could not validate credentials"}
            for failure in self._failures:
                if failure.times > 0 and failure.method == method and failure.path.search(path):
                    failure.times -= 1
                    return failure.status, failure.body
            allowed = False
            for route_method, pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                allowed = True
                if route_method != method:
                    continue
                try:
                    payload = json.loads(body) if body else None
                except ValueError:
                    return 422, {"detail": "request body is not JSON"}
                try:
                    result = handler(*match.groups(), query=query, body=payload)
                except _HTTPError as err:
                    return err.status, {"detail": err.detail}
                if isinstance(result, tuple):
                    return int(result[0]), result[1]
                return 200, result
            if allowed:
                return 405, {"detail": "Method Not Allowed"}
            return 404, {"detail": "Not Found"}

    # -- handlers: users and workspaces --------------------------------------------------------

    def _me(self, *, query: Any, body: Any) -> Json:
        return copy.deepcopy(self.users[self.owner_id])

    def _get_user(self, user_id: str, *, query: Any, body: Any) -> Json:
        if user_id not in self.users:
            raise _HTTPError(404, f"User with id `{user_id}` not found")
        return copy.deepcopy(self.users[user_id])

    def _list_workspaces(self, *, query: Any, body: Any) -> Json:
        return {"items": copy.deepcopy(list(self.workspaces.values()))}

    def _get_workspace(self, ws_id: str, *, query: Any, body: Any) -> Json:
        if ws_id not in self.workspaces:
            raise _HTTPError(404, f"Workspace with id `{ws_id}` not found")
        return copy.deepcopy(self.workspaces[ws_id])

    # -- handlers: datasets --------------------------------------------------------------------

    def _list_datasets(self, *, query: Any, body: Any) -> Json:
        return {"items": copy.deepcopy(list(self.datasets.values()))}

    def _get_dataset_route(self, ds_id: str, *, query: Any, body: Any) -> Json:
        return copy.deepcopy(self._get_dataset(ds_id))

    def _create_dataset(self, *, query: Any, body: Any) -> tuple[int, Json]:
        body = body or {}
        name = body.get("name")
        ws_id = body.get("workspace_id")
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise _HTTPError(422, "dataset name must be 1..200 characters")
        if ws_id not in self.workspaces:
            raise _HTTPError(404, f"Workspace with id `{ws_id}` not found")
        if any(d["name"] == name and d["workspace_id"] == ws_id for d in self.datasets.values()):
            raise _HTTPError(409, f"Dataset with name `{name}` already exists for workspace")
        now = _now()
        ds_id = _new_id()
        self.datasets[ds_id] = {
            "id": ds_id,
            "name": name,
            "guidelines": body.get("guidelines"),
            "allow_extra_metadata": bool(body.get("allow_extra_metadata", True)),
            "status": "draft",
            "distribution": body.get("distribution") or {"strategy": "overlap", "min_submitted": 1},
            "workspace_id": ws_id,
            "last_activity_at": now,
            "inserted_at": now,
            "updated_at": now,
        }
        for table in (self._fields, self._questions, self._metadata, self._vectors):
            table[ds_id] = []
        self._records[ds_id] = {}
        return 201, copy.deepcopy(self.datasets[ds_id])

    def _update_dataset(self, ds_id: str, *, query: Any, body: Any) -> Json:
        ds = self._get_dataset(ds_id)
        wanted = (body or {}).get("distribution")
        answered = any(r["responses"] for r in self._records[ds_id].values())
        if wanted is not None and wanted != ds["distribution"] and answered:
            # argilla-server's UpdateDistributionWithExistingResponsesError (a 422).
            raise _HTTPError(
                422, "Distribution settings cannot be modified for a dataset with responses"
            )
        for key in ("name", "guidelines", "allow_extra_metadata", "distribution"):
            if key in (body or {}) and (body[key] is not None or key == "guidelines"):
                ds[key] = body[key]
        ds["updated_at"] = _now()
        return copy.deepcopy(ds)

    def _publish_dataset(self, ds_id: str, *, query: Any, body: Any) -> Json:
        ds = self._get_dataset(ds_id)
        if ds["status"] == "ready":
            raise _HTTPError(422, "Dataset is already published")
        if not self._fields[ds_id]:
            raise _HTTPError(422, "Dataset cannot be published without fields")
        if not any(q["required"] for q in self._questions[ds_id]):
            raise _HTTPError(422, "Dataset cannot be published without required questions")
        ds["status"] = "ready"
        ds["updated_at"] = _now()
        return copy.deepcopy(ds)

    # -- handlers: settings --------------------------------------------------------------------

    def _create_setting(
        self, table: dict[str, list[Json]], ds_id: str, body: Any, *, draft_only: bool
    ) -> tuple[int, Json]:
        ds = self._get_dataset(ds_id)
        body = body or {}
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise _HTTPError(422, "name is required")
        if draft_only and ds["status"] != "draft":
            raise _HTTPError(422, f"cannot add `{name}` to a published dataset")
        if any(item["name"] == name for item in table[ds_id]):
            raise _HTTPError(409, f"`{name}` already exists in dataset `{ds_id}`")
        now = _now()
        item = {**body, "id": _new_id(), "dataset_id": ds_id, "inserted_at": now, "updated_at": now}
        if not item.get("title"):
            item["title"] = name
        table[ds_id].append(item)
        return 201, copy.deepcopy(item)

    def _list_setting(self, table: dict[str, list[Json]], ds_id: str) -> Json:
        self._get_dataset(ds_id)
        return {"items": copy.deepcopy(table[ds_id])}

    def _list_fields(self, ds_id: str, *, query: Any, body: Any) -> Json:
        return self._list_setting(self._fields, ds_id)

    def _create_field(self, ds_id: str, *, query: Any, body: Any) -> tuple[int, Json]:
        kind = ((body or {}).get("settings") or {}).get("type")
        if kind not in ("text", "image", "chat", "custom"):
            raise _HTTPError(422, f"unknown field type {kind!r}")
        return self._create_setting(self._fields, ds_id, body, draft_only=True)

    def _list_questions(self, ds_id: str, *, query: Any, body: Any) -> Json:
        return self._list_setting(self._questions, ds_id)

    def _create_question(self, ds_id: str, *, query: Any, body: Any) -> tuple[int, Json]:
        settings = (body or {}).get("settings") or {}
        kind = settings.get("type")
        if kind in ("label_selection", "multi_label_selection", "ranking", "rating"):
            if len(settings.get("options") or []) < 2:
                raise _HTTPError(422, f"a {kind} question needs at least 2 options")
        elif kind not in ("text", "span"):
            raise _HTTPError(422, f"unknown question type {kind!r}")
        return self._create_setting(self._questions, ds_id, body, draft_only=False)

    def _list_metadata(self, ds_id: str, *, query: Any, body: Any) -> Json:
        return self._list_setting(self._metadata, ds_id)

    def _create_metadata(self, ds_id: str, *, query: Any, body: Any) -> tuple[int, Json]:
        kind = ((body or {}).get("settings") or {}).get("type")
        if kind not in ("terms", "integer", "float"):
            raise _HTTPError(422, f"unknown metadata property type {kind!r}")
        return self._create_setting(self._metadata, ds_id, body, draft_only=False)

    def _list_vectors(self, ds_id: str, *, query: Any, body: Any) -> Json:
        return self._list_setting(self._vectors, ds_id)

    # -- handlers: records ---------------------------------------------------------------------

    def _validate_record(self, ds: Json, item: Json, position: int) -> None:
        ds_id = ds["id"]

        def invalid(why: str) -> _HTTPError:
            return _HTTPError(422, f"Record at position {position} is not valid because {why}")

        fields = {f["name"]: f for f in self._fields[ds_id]}
        values = item.get("fields") or {}
        for name in values:
            if name not in fields:
                raise invalid(f"found fields values for non configured fields: {name!r}")
        for name, field in fields.items():
            value = values.get(name)
            if value is None:
                if field["required"]:
                    raise invalid(f"missing required value for field: {name!r}")
                continue
            kind = field["settings"]["type"]
            if kind == "text" and not isinstance(value, str):
                raise invalid(f"text field {name!r} value must be a string")
            if kind == "chat" and not (
                isinstance(value, list)
                and value
                and all(
                    isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m
                    for m in value
                )
            ):
                raise invalid(f"chat field {name!r} value must be a list of role/content messages")
        metadata = item.get("metadata") or {}
        properties = {p["name"]: p for p in self._metadata[ds_id]}
        for name, value in metadata.items():
            prop = properties.get(name)
            if prop is None:
                if not ds["allow_extra_metadata"]:
                    raise invalid(f"metadata property {name!r} not found and extra not allowed")
                continue
            if value is None:
                continue
            kind = prop["settings"]["type"]
            if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
                raise invalid(f"integer metadata {name!r} got {value!r}")
            if kind == "float" and (not isinstance(value, int | float) or isinstance(value, bool)):
                raise invalid(f"float metadata {name!r} got {value!r}")
            if kind == "terms":
                options = prop["settings"].get("values")
                for term in value if isinstance(value, list) else [value]:
                    if not isinstance(term, str):
                        raise invalid(f"terms metadata {name!r} got {term!r}")
                    if options and term not in options:
                        raise invalid(f"terms metadata {name!r} value {term!r} not in {options}")
        questions = {q["name"] for q in self._questions[ds_id]}
        for response in item.get("responses") or []:
            if response.get("user_id") not in self.users:
                raise invalid(f"user with id {response.get('user_id')} not found")
            for name in response.get("values") or {}:
                if name not in questions:
                    raise invalid(f"response for unknown question {name!r}")

    def _upsert_records(self, ds_id: str, *, query: Any, body: Any) -> tuple[int, Json]:
        ds = self._get_dataset(ds_id)
        if ds["status"] != "ready":
            raise _HTTPError(422, f"Dataset `{ds_id}` is not ready (publish it first)")
        items = (body or {}).get("items")
        if not isinstance(items, list) or not items:
            raise _HTTPError(422, "items must be a non-empty list")
        if len(items) > 500:
            raise _HTTPError(422, "cannot upsert more than 500 records at once")
        table = self._records[ds_id]
        seen: set[str] = set()
        plan: list[tuple[Json, Json | None]] = []
        for position, item in enumerate(items):
            ext = item.get("external_id")
            ext = str(ext) if ext is not None else None
            existing = table.get(ext) if ext is not None else None
            if existing is None and item.get("id") in self._record_index:
                ds_of, ext_of = self._record_index[item["id"]]
                existing = self._records[ds_of][ext_of] if ds_of == ds_id else None
            key = existing["external_id"] if existing is not None else ext
            if key is not None and key in seen:
                raise _HTTPError(
                    422, f"Record at position {position} repeats external_id {key!r} in one bulk"
                )
            if key is not None:
                seen.add(key)
            if existing is None:
                self._validate_record(ds, item, position)
            elif "metadata" in item:
                self._validate_record(
                    ds, {"fields": existing["fields"], "metadata": item["metadata"]}, position
                )
            plan.append((item, existing))
        now = _now()
        out: list[Json] = []
        updated: list[str] = []
        for item, existing in plan:
            if existing is None:
                record_id = _new_id()
                ext = item.get("external_id")
                ext = str(ext) if ext is not None else record_id
                record: Json = {
                    "id": record_id,
                    "external_id": ext,
                    "status": "pending",
                    "fields": copy.deepcopy(item.get("fields") or {}),
                    "metadata": copy.deepcopy(item.get("metadata") or {}),
                    "dataset_id": ds_id,
                    "inserted_at": now,
                    "updated_at": now,
                    "responses": [],
                    "suggestions": [],
                    "vectors": {},
                }
                table[ext] = record
                self._record_index[record_id] = (ds_id, ext)
            else:
                record = existing
                updated.append(record["id"])
                # Like argilla-server's UpsertRecordsBulk: fields are *not* updated.
                if "metadata" in item:
                    record["metadata"] = copy.deepcopy(item.get("metadata") or {})
                    record["updated_at"] = now
            for response in item.get("responses") or []:
                self._upsert_response(
                    record,
                    str(response["user_id"]),
                    copy.deepcopy(response.get("values") or {}),
                    str(response.get("status", "submitted")),
                )
            if item.get("suggestions"):
                record["suggestions"] = copy.deepcopy(list(item["suggestions"]))
            if item.get("vectors"):
                record["vectors"].update(copy.deepcopy(item["vectors"]))
            self._refresh_status(ds, record)
            out.append(self._record_json(record, {"responses", "suggestions", "vectors"}))
        ds["last_activity_at"] = now
        return 200, {"items": out, "updated_item_ids": updated}

    @staticmethod
    def _paging(query: Mapping[str, list[str]]) -> tuple[int, int, set[str]]:
        try:
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["50"])[0])
        except ValueError as err:
            raise _HTTPError(422, "offset and limit must be integers") from err
        if offset < 0 or not 1 <= limit <= 1000:
            raise _HTTPError(422, "offset must be >= 0 and limit in 1..1000")
        include: set[str] = set()
        for value in query.get("include", []):
            include.update(part.split(":")[0] for part in value.split(",") if part)
        return offset, limit, include

    def _search_records(self, ds_id: str, *, query: Any, body: Any) -> Json:
        self._get_dataset(ds_id)
        offset, limit, include = self._paging(query)
        body = body or {}
        text = ((body.get("query") or {}).get("text") or {}).get("q")
        if (body.get("query") or {}).get("vector"):
            raise _HTTPError(422, "vector search is not supported by the fake")
        filters = (body.get("filters") or {}).get("and") or []
        matches = [
            r
            for r in self._records[ds_id].values()
            if all(self._filter_matches(r, f) for f in filters)
            and (not text or self._text_matches(r, str(text)))
        ]
        page = matches[offset : offset + limit]
        return {
            "items": [{"record": self._record_json(r, include), "query_score": 1.0} for r in page],
            "total": len(matches),
        }

    @staticmethod
    def _text_matches(record: Json, text: str) -> bool:
        needle = text.lower()
        for value in record["fields"].values():
            if isinstance(value, str) and needle in value.lower():
                return True
            if isinstance(value, list) and any(
                needle in str(m.get("content", "")).lower() for m in value if isinstance(m, dict)
            ):
                return True
        return False

    @staticmethod
    def _filter_matches(record: Json, flt: Json) -> bool:
        scope = flt.get("scope") or {}
        entity = scope.get("entity")
        kind = flt.get("type")
        candidates: list[Any]
        if entity == "record":
            prop = scope.get("property")
            if prop not in ("id", "external_id", "status"):
                raise _HTTPError(422, f"record filter on {prop!r} is not supported by the fake")
            candidates = [record[prop]]
        elif entity == "response":
            question, prop = scope.get("question"), scope.get("property")
            if question is None and prop == "status":
                candidates = [r["status"] for r in record["responses"]] or ["pending"]
            elif question is not None and prop is None:
                candidates = [
                    r["values"][question]["value"]
                    for r in record["responses"]
                    if question in (r.get("values") or {})
                ]
            else:
                raise _HTTPError(422, f"response filter {scope!r} is not supported by the fake")
        elif entity == "metadata":
            value = record["metadata"].get(scope.get("metadata_property"))
            candidates = value if isinstance(value, list) else [value]
        else:
            raise _HTTPError(422, f"filter scope {entity!r} is not supported by the fake")
        if kind == "terms":
            wanted = flt.get("values") or []
            return any(c in wanted for c in candidates if not isinstance(c, list | dict))
        if kind == "range":
            ge, le = flt.get("ge"), flt.get("le")
            return any(
                c is not None and (ge is None or c >= ge) and (le is None or c <= le)
                for c in candidates
            )
        raise _HTTPError(422, f"filter type {kind!r} is not supported by the fake")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeArgillaServer
    protocol_version = "HTTP/1.1"
    server_version = "FakeArgilla/2.8"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add
    # ~40 ms to every request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access log
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        # Header names are case-insensitive; normalise the one we check.
        for key in list(headers):
            if key.lower() == "x-argilla-api-key":
                headers["X-Argilla-Api-Key"] = headers[key]
        try:
            status, payload = self.fake._dispatch(self.command, self.path, headers, body)
        except Exception as exc:  # a bug in the fake: answer 500 instead of hanging the client
            status, payload = 500, {"detail": f"fake Argilla server error: {exc!r}"}
        data = b"" if status == 204 or payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle


# -- pytest fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_argilla_server() -> Iterator[FakeArgillaServer]:
    """One fake Argilla server for the whole session."""
    server = FakeArgillaServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_argilla(fake_argilla_server: FakeArgillaServer) -> Iterator[FakeArgillaServer]:
    """The session server, reset (state, injected failures, request log) around each test."""
    fake_argilla_server.reset()
    try:
        yield fake_argilla_server
    finally:
        fake_argilla_server.reset()
