"""The ids Langfuse groups by: a run's session, and one stable id per score on a trace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def session_id_for(run_id: str | None, project_id: str | None = None) -> str | None:
    """A Langfuse session is one unit of work: the Dagster run, else the project's UTC day."""
    if run_id:
        return run_id
    if project_id:
        return f"{project_id}-{datetime.now(UTC).date().isoformat()}"
    return None


def score_id_for(trace_id: str, name: str) -> str:
    """The one id of score `name` on a trace: sending it again (a relabel) updates the score
    in Langfuse instead of adding a second one."""
    return str(uuid.uuid5(_SCORE_NAMESPACE, f"{trace_id}:{name}"))


_SCORE_NAMESPACE = uuid.UUID("6f1c2b9e-5d4a-4c1e-9a57-3b2f0e8d7c61")
