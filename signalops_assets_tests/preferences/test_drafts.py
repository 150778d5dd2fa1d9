"""Drafting (which posts, the exact prompt, failures) and the review state machine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft, DraftEvent, Post
from signalops_assets.db.session import session_scope
from signalops_assets.errors import InvalidTransitionError, NotFoundError, SignalOpsError
from signalops_assets.judging.prompts import decode_post
from signalops_assets.llm.gateway import LLMGateway, LLMRequest, LLMResponse
from signalops_assets.preferences import drafts as d
from signalops_assets_tests.preferences.review_helpers import (
    EDITED,
    RecordingTracer,
    gateway,
    judge,
    kinds,
    make_drafts,
    post_ids,
)


class RecordingGateway(LLMGateway):
    def __init__(self, tracer: Any) -> None:
        super().__init__(num_retries=0, tracer=tracer)
        self.sent: list[list[dict[str, Any]]] = []

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        self.sent.append([dict(m) for m in request.messages])
        return await super().acomplete(request)


def post_author(engine: Engine, post_id: int) -> str:
    with session_scope(engine) as session:
        return session.get_one(Post, post_id).author


def test_drafts_follow_the_acted_on_judgment_store_the_exact_prompt_and_are_idempotent(
    engine: Engine, spectra: ProjectConfig
) -> None:
    a, b, c, e, f = post_ids(engine, 5)
    judge(engine, a, "relevant")
    judge(engine, b, "relevant", key="old")
    judge(engine, b, "irrelevant")  # the latest judgment wins
    judge(engine, c, "relevant", is_primary=False)  # a shadow canary's judgment is not acted on
    judge(engine, e, "relevant", key="first")
    judge(engine, e, "maybe", error="parse failure")  # a failed judgment is not acted on
    judge(engine, f, "relevant", error="timeout")
    tracer = RecordingTracer()
    gw = RecordingGateway(tracer)
    summary = d.draft_pending(engine, "spectra", d.LLMDraftGenerator(gw, spectra))
    assert (summary.candidates, summary.drafted, summary.failures) == (2, 2, 0)
    with session_scope(engine) as session:
        rows = list(session.scalars(select(Draft).order_by(Draft.post_id)))
    assert [r.post_id for r in rows] == [a, e]
    assert all(r.status == "pending" and r.model_id == "local/template-drafter" for r in rows)
    # Stored exactly as sent: the JSON of the very messages the gateway received.
    assert [json.loads(r.prompt) for r in rows] == gw.sent
    system, user = gw.sent[0]
    assert spectra.persona.strip()[:40] in system["content"]
    assert decode_post(user["content"])["author"] == post_author(engine, rows[0].post_id)
    assert rows[0].text_generated.startswith("Hi ")
    assert tracer.entered.count("generate_draft") == 2
    assert tracer.entered.index("generate_draft") < tracer.entered.index("draft_llm_call")

    again = d.draft_pending(engine, "spectra", d.LLMDraftGenerator(gateway(), spectra))
    assert (again.candidates, again.drafted) == (0, 0)


def test_failed_calls_are_counted_not_stored(engine: Engine, spectra: ProjectConfig) -> None:
    for post_id in post_ids(engine, 3):
        judge(engine, post_id, "relevant")
    generator = d.LLMDraftGenerator(gateway(), spectra, model="local/no-such-drafter")
    summary = d.draft_pending(engine, "spectra", generator)
    assert (summary.failures, summary.drafted) == (3, 0)
    assert "unknown local model" in summary.errors[0]
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Draft)) == 0


def state(engine: Engine, draft_id: int) -> tuple[str, str | None, list[str]]:
    with session_scope(engine) as session:
        draft = session.get_one(Draft, draft_id)
        events = session.scalars(select(DraftEvent).where(DraftEvent.draft_id == draft_id))
        return draft.status, draft.text_final, kinds(list(events))


LEGAL = [
    (["approve"], "approved"),
    (["edit"], "edited"),
    (["reject"], "rejected"),
    (["approve", "sent"], "sent"),
    (["edit", "sent"], "sent"),
    (["approve", "edit"], "edited"),
    (["edit", "edit"], "edited"),
]
ILLEGAL = [
    (["approve"], "approve"),
    (["edit"], "approve"),
    (["reject"], "edit"),
    (["reject"], "reject"),
    (["approve", "sent"], "edit"),
    (["edit"], "reject"),
    ([], "sent"),
]


def act(session: Any, draft_id: int, action: str) -> Any:
    if action == "approve":
        return d.approve(session, draft_id)
    if action == "edit":
        return d.edit(session, draft_id, EDITED)
    if action == "reject":
        return d.reject(session, draft_id, "a better reply")
    return d.mark_sent(session, draft_id)


def test_every_legal_transition_writes_its_event(engine: Engine, spectra: ProjectConfig) -> None:
    ids = make_drafts(engine, spectra, len(LEGAL))
    for draft_id, (actions, final) in zip(ids, LEGAL, strict=True):
        for action in actions:
            with session_scope(engine) as session:
                done = act(session, draft_id, action)
                assert done.event.id is not None and done.draft.status == done.event.kind
        status, text_final, events = state(engine, draft_id)
        expected_kinds = [
            {"approve": "approved", "edit": "edited", "reject": "rejected", "sent": "sent"}[a]
            for a in actions
        ]
        assert (status, events) == (final, expected_kinds)
        if actions[-1] == "approve":
            assert text_final is not None  # approval makes the generated text final


def test_illegal_transitions_raise_and_change_nothing(
    engine: Engine, spectra: ProjectConfig
) -> None:
    ids = make_drafts(engine, spectra, len(ILLEGAL))
    for draft_id, (setup, action) in zip(ids, ILLEGAL, strict=True):
        for step in setup:
            with session_scope(engine) as session:
                act(session, draft_id, step)
        before = state(engine, draft_id)
        with (
            pytest.raises(InvalidTransitionError, match=f"draft {draft_id} is "),
            session_scope(engine) as session,
        ):
            act(session, draft_id, action)
        assert state(engine, draft_id) == before


def test_transition_and_event_share_one_transaction(engine: Engine, spectra: ProjectConfig) -> None:
    (draft_id,) = make_drafts(engine, spectra, 1)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        d.edit(session, draft_id, EDITED)
        raise RuntimeError("crash after the change, before commit")
    assert state(engine, draft_id) == ("pending", None, [])
    with session_scope(engine) as session:
        d.reject(session, draft_id, "  better text  ")
    with session_scope(engine) as session:
        event = session.scalars(select(DraftEvent)).one()
        assert (event.kind, event.detail) == ("rejected", {"better_text": "better text"})


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text_is_refused(engine: Engine, spectra: ProjectConfig, text: str) -> None:
    (draft_id,) = make_drafts(engine, spectra, 1)
    with pytest.raises(SignalOpsError, match="empty"), session_scope(engine) as session:
        d.edit(session, draft_id, text)
    with pytest.raises(SignalOpsError, match="empty"), session_scope(engine) as session:
        d.reject(session, draft_id, text)
    with pytest.raises(NotFoundError), session_scope(engine) as session:
        d.approve(session, draft_id + 1000)
    assert state(engine, draft_id) == ("pending", None, [])
