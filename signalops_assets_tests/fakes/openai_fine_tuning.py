"""`/v1/fine_tuning/jobs` for the fake OpenAI server, over its `/v1/files` store.

* ``POST /v1/fine_tuning/jobs`` (JSON: model, training_file, validation_file, hyperparameters,
  suffix, ...) → a job in ``validating_files``; both files must exist with purpose fine-tune;
* ``GET /v1/fine_tuning/jobs/{id}`` → the job, advanced one state per retrieve:
  validating_files → queued → running → succeeded (``fine_tuned_model: ft:...``) or failed
  (``fail_next`` injects that, with an error code and message; ``reject_next`` answers the
  next create with an HTTP error instead);
* ``GET /v1/fine_tuning/jobs`` → the list; ``GET .../{id}/events`` → its events;
* ``POST .../{id}/cancel`` → cancelled (400 once the job has finished).

A succeeded job's ``ft:`` model is then served for chat completions; a name of the fake's own
(``ft:<base>:fake-org:...``) that no job produced yet is a 404 "model does not exist", as on
the real API (see ``serves``).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from signalops_assets_tests.fakes.openai_files import FileStore

__all__ = ["FakeFineTuneJob", "FineTuningStore"]


class JSONResponder(Protocol):
    """What a route needs from the HTTP handler (the fake server's `_Handler`)."""

    def _send_json(self, status: int, obj: Any, extra_headers: Any = None) -> None: ...
    def _send_error_json(
        self, status: int, message: str, err_type: str, extra_headers: Any = None
    ) -> None: ...


ORG = "fake-org"  # the organisation in the fake's fine-tuned model names
PENDING = ("validating_files", "queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")
_JOB = re.compile(r"/fine_tuning/jobs/([^/]+)(/events|/cancel)?$")


@dataclass
class FakeFineTuneJob:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    hyperparameters: dict[str, Any]
    suffix: str | None
    request: dict[str, Any]  # the create body as received (what LiteLLM actually sent)
    created_at: int = field(default_factory=lambda: int(time.time()))
    status: str = "validating_files"
    fine_tuned_model: str | None = None
    error: dict[str, Any] | None = None
    finished_at: int | None = None
    fail_with: tuple[str, str] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": self.created_at,
            "error": self.error,
            "fine_tuned_model": self.fine_tuned_model,
            "finished_at": self.finished_at,
            "hyperparameters": {
                "n_epochs": self.hyperparameters.get("n_epochs", "auto"),
                "batch_size": self.hyperparameters.get("batch_size", "auto"),
                "learning_rate_multiplier": self.hyperparameters.get(
                    "learning_rate_multiplier", "auto"
                ),
            },
            "model": self.model,
            "organization_id": "org-fake",
            "result_files": [],
            "seed": 0,
            "status": self.status,
            "trained_tokens": 1234 if self.status == "succeeded" else None,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "integrations": [],
            "estimated_finish": None,
        }


class FineTuningStore:
    """Fine-tuning jobs over a files store; thread-safe."""

    def __init__(self, files: FileStore) -> None:
        self.files = files
        self._lock = threading.Lock()
        self._jobs: dict[str, FakeFineTuneJob] = {}
        self._ids = itertools.count(1)
        self._fail_next: tuple[str, str] | None = None
        self._reject_next: tuple[int, str] | None = None

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._fail_next = None
            self._reject_next = None

    def reject_next(self, status: int, message: str) -> None:
        """The next create request is answered with this HTTP error (no job is created)."""
        with self._lock:
            self._reject_next = (status, message)

    def fail_next(self, message: str, code: str = "invalid_training_file") -> None:
        """The next job created fails (after running) with this error."""
        with self._lock:
            self._fail_next = (code, message)

    def jobs(self) -> list[FakeFineTuneJob]:
        with self._lock:
            return [copy.deepcopy(j) for j in self._jobs.values()]

    def serves(self, model: str) -> bool:
        """Whether chat completions may answer as ``model``: the fake's own fine-tunes
        (``ft:<base>:fake-org:...``) only once their job succeeded; any other name, including
        ``ft:`` ids a test registers by hand, as always."""
        if not (model.startswith("ft:") and f":{ORG}:" in model):
            return True
        with self._lock:
            return any(j.fine_tuned_model == model for j in self._jobs.values())

    def _event(self, job: FakeFineTuneJob, message: str, level: str = "info") -> None:
        job.events.append(
            {
                "id": f"ftevent-{job.id}-{len(job.events) + 1}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "type": "message",
            }
        )

    def _advance(self, job: FakeFineTuneJob) -> None:
        if job.status in FINISHED:
            return
        if job.status != "running":
            job.status = PENDING[PENDING.index(job.status) + 1]
            self._event(job, f"Job entered {job.status}")
            return
        job.finished_at = int(time.time())
        if job.fail_with is not None:
            code, message = job.fail_with
            job.status, job.error = "failed", {"code": code, "message": message, "param": None}
            self._event(job, f"Job failed: {message}", "error")
            return
        tag = job.id.rsplit("-", 1)[-1]
        job.status = "succeeded"
        job.fine_tuned_model = f"ft:{job.model}:{ORG}:{job.suffix or ''}:{tag}"
        self._event(job, f"New fine-tuned model created: {job.fine_tuned_model}")

    # -- HTTP routes ---------------------------------------------------------------------------

    def route(self, handler: JSONResponder, method: str, path: str, raw: bytes) -> bool:
        if path.endswith("/fine_tuning/jobs"):
            if method == "POST":
                self._create(handler, raw)
            else:
                with self._lock:
                    data = [j.to_json() for j in reversed(self._jobs.values())]
                handler._send_json(200, {"object": "list", "data": data, "has_more": False})
            return True
        match = _JOB.search(path)
        if match is None:
            return False
        job_id, action = match.group(1), match.group(2)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                reply: tuple[int, Any] = (404, f"Could not find fine tune job: {job_id}")
            elif action == "/events":
                events = list(reversed(job.events))
                reply = (200, {"object": "list", "data": events, "has_more": False})
            elif action == "/cancel":
                if job.status in FINISHED:
                    reply = (400, f"Job {job_id} has already {job.status}")
                else:
                    job.status, job.finished_at = "cancelled", int(time.time())
                    self._event(job, "Job cancelled")
                    reply = (200, job.to_json())
            else:
                self._advance(job)
                reply = (200, job.to_json())
        status, body = reply
        if status == 200:
            handler._send_json(200, body)
        else:
            handler._send_error_json(status, str(body), "invalid_request_error")
        return True

    def _create(self, handler: JSONResponder, raw: bytes) -> None:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            handler._send_error_json(400, "invalid JSON body", "invalid_request_error")
            return
        with self._lock:
            rejected, self._reject_next = self._reject_next, None
        if rejected is not None:
            handler._send_error_json(rejected[0], rejected[1], "invalid_request_error")
            return
        problem = self._invalid(body)
        if problem:
            handler._send_error_json(400, problem, "invalid_request_error")
            return
        with self._lock:
            job = FakeFineTuneJob(
                id=f"ftjob-fake{next(self._ids):06d}",
                model=str(body["model"]),
                training_file=str(body["training_file"]),
                validation_file=body.get("validation_file"),
                hyperparameters=dict(body.get("hyperparameters") or {}),
                suffix=body.get("suffix"),
                request=body,
                fail_with=self._fail_next,
            )
            self._fail_next = None
            self._event(job, f"Created fine-tuning job: {job.id}")
            self._jobs[job.id] = job
            reply = job.to_json()
        handler._send_json(200, reply)

    def _invalid(self, body: Any) -> str | None:
        if not isinstance(body, dict) or not body.get("model"):
            return "model is required"
        for key in ("training_file", "validation_file"):
            file_id = body.get(key)
            if file_id is None and key == "validation_file":
                continue
            stored = self.files.get(str(file_id))
            if stored is None:
                return f"{key}: no such file {file_id!r}"
            if stored.purpose != "fine-tune":
                return f"{key}: {file_id} has purpose {stored.purpose!r}, not 'fine-tune'"
        return None
