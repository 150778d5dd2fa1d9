"""Review decisions as Langfuse scores on the draft's generation, through the real Langfuse SDK
into the local Langfuse fake: `draft_outcome` for approve/edit/reject, a CORRECTION with the
reviewer's text for edits (and better replies), one score per generation and name."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from signalops_assets.cli.main import cli
from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft
from signalops_assets.db.session import session_scope
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.trace_ids import score_id_for
from signalops_assets.llm.tracing import get_tracer
from signalops_assets.preferences.drafts import LLMDraftGenerator, draft_pending
from signalops_assets_tests.fakes.otlp_receiver import OTLPReceiver
from signalops_assets_tests.preferences.review_helpers import BETTER, EDITED, judge, post_ids


def drafted(engine: Engine, cfg: ProjectConfig, n: int) -> list[Draft]:
    for post_id in post_ids(engine, n):
        judge(engine, post_id, "relevant")
    gateway = LLMGateway(num_retries=0)  # the process's tracer
    assert draft_pending(engine, cfg.project_id, LLMDraftGenerator(gateway, cfg)).drafted == n
    get_tracer().flush()
    with session_scope(engine) as session:
        return list(session.scalars(select(Draft).order_by(Draft.id)))


def run(*args: str) -> None:
    result = CliRunner().invoke(cli, ["drafts", *args])
    assert result.exit_code == 0, result.output


def test_reviews_score_the_generation_that_wrote_the_draft(
    engine: Engine, spectra: ProjectConfig, traced: OTLPReceiver
) -> None:
    edited, approved, rejected = drafted(engine, spectra, 3)
    calls = {s["span_id"]: s for s in traced.spans("draft_llm_call")}
    for draft in (edited, approved, rejected):
        assert draft.observation_id in calls
        assert calls[str(draft.observation_id)]["trace_id"] == draft.trace_id
    assert traced.sent_scores() == []

    run("edit", str(edited.id), "--text", "first try")
    run("edit", str(edited.id), "--text", EDITED)  # a re-edit replaces both scores
    run("approve", str(approved.id))
    run("reject", str(rejected.id), "--better-text", BETTER)

    scores = {(s["observationId"], s["name"]): s for s in traced.scores()}
    assert len(scores) == len(traced.scores()) == 5
    expected = [
        (edited, "draft_outcome", "edited", "CATEGORICAL"),
        (edited, "output", EDITED, "CORRECTION"),
        (approved, "draft_outcome", "approved", "CATEGORICAL"),
        (rejected, "draft_outcome", "rejected", "CATEGORICAL"),
        (rejected, "output", BETTER, "CORRECTION"),
    ]
    for draft, name, value, data_type in expected:
        score = scores[(draft.observation_id, name)]
        assert (score["value"], score["dataType"], score["traceId"]) == (
            value,
            data_type,
            draft.trace_id,
        )
        assert score["id"] == score_id_for(str(draft.observation_id), name)
        assert score["metadata"] == {
            "draft_id": draft.id,
            "project": "spectra",
            "model": "local/template-drafter",
        }
    assert len(traced.sent_scores()) == 7  # the first edit's two, replaced by id


def test_masked_content_masks_the_correction_text(
    engine: Engine, spectra: ProjectConfig, traced: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGFUSE_MASK_CONTENT", "1")  # before the first traced call
    (draft,) = drafted(engine, spectra, 1)
    run("edit", str(draft.id), "--text", EDITED)
    (correction,) = traced.scores("output")
    assert correction["value"] == "[masked]"
    assert EDITED.encode() not in b"".join(r.body for r in traced.requests)


def test_tracing_off_stores_no_ids_and_sends_nothing(
    engine: Engine, spectra: ProjectConfig, otlp_receiver: OTLPReceiver
) -> None:
    (draft,) = drafted(engine, spectra, 1)
    assert (draft.trace_id, draft.observation_id) == (None, None)
    run("edit", str(draft.id), "--text", EDITED)
    assert otlp_receiver.requests == []
