"""Langfuse scores that belong to a database change: queued on the session, sent once it
commits, dropped if it rolls back (a label or review that was not stored is never scored).

Tracing off: `queue_score` returns before touching the session, so nothing is queued or sent.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from signalops_assets.llm.tracing import get_tracer

log = logging.getLogger(__name__)

_READY = "signalops.scores_after_commit"


def queue_score(session: Session, **score: Any) -> None:
    """`Tracer.score(**score)` after `session` commits (tracing on only)."""
    if not get_tracer().enabled:
        return
    ready: list[dict[str, Any]] | None = session.info.get(_READY)
    if ready is None:
        ready = session.info[_READY] = []
        event.listen(session, "after_commit", _send)
        event.listen(session, "after_soft_rollback", _drop)
    ready.append(score)


def _send(session: Session) -> None:
    scores, session.info[_READY] = session.info.get(_READY) or [], []
    if not scores:
        return
    tracer = get_tracer()
    try:
        for score in scores:
            tracer.score(**score)
        tracer.flush()  # labels and reviews often come from short CLI processes
    except Exception as exc:  # the change is stored; a lost score must not turn into an error
        log.warning("%d Langfuse scores not sent (%s)", len(scores), type(exc).__name__)


def _drop(session: Session, previous_transaction: Any) -> None:
    session.info[_READY] = []
