"""Relevance labelling through the real argilla SDK against the local Argilla fake: posts go out
with the judge's suggestion, reviewers' labels (majority of min_submitted) come back through the
one label path, onto posts and judgments and into Langfuse as `human_label` scores."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from signalops_assets.argilla.labels import (
    PostForLabelling,
    label_record_id,
    labelling_dataset_name,
    majority_label,
    push_for_labelling,
    sync_labels,
)
from signalops_assets.argilla.settings import ArgillaSettings
from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.llm.trace_ids import score_id_for
from signalops_assets_tests.factories import judgment, seed_judgments
from signalops_assets_tests.fakes.argilla_server import FakeArgillaServer
from signalops_assets_tests.fakes.otlp_receiver import OTLPReceiver
from signalops_assets_tests.preferences.review_helpers import post_ids

DATASET = labelling_dataset_name("spectra")


def seed(engine: Engine, n: int) -> list[int]:
    """n posts, each judged by both arms of a shadow experiment (traced), labels unknown."""
    ids = post_ids(engine, n)
    seed_judgments(
        engine,
        "spectra",
        [
            judgment(
                post_id,
                "relevant" if i % 2 == 0 else "irrelevant",
                f"k-{arm}",
                model_id=f"model-{arm}",
                is_primary=primary,
                arm=arm,
                trace_id=f"{post_id:016x}{int(primary):016x}",
            )
            for i, post_id in enumerate(ids)
            for arm, primary in (("primary", True), ("canary", False))
        ],
    )
    return ids


def record_id(engine: Engine, post_id: int) -> str:
    with session_scope(engine) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return label_record_id(
            PostForLabelling(post_id, "spectra", post.platform_id, "", "", "", 0.0, "")
        )


def test_majority_label() -> None:
    assert majority_label(["relevant"], 1) == "relevant"
    assert majority_label(["relevant"], 2) is None  # not enough reviewers yet
    assert majority_label(["relevant", "maybe"], 2) is None  # a tie decides nothing
    assert majority_label(["relevant", "maybe", "relevant"], 2) == "relevant"


def test_labels_round_trip_with_suggestions_majority_and_scores(
    engine: Engine,
    spectra: ProjectConfig,
    fake_argilla: FakeArgillaServer,
    traced: OTLPReceiver,
) -> None:
    settings = ArgillaSettings(fake_argilla.url, fake_argilla.api_key)
    a, b, c = seed(engine, 3)
    assert push_for_labelling(engine, "spectra", settings, min_submitted=2, limit=10) == (3, True)
    assert push_for_labelling(engine, "spectra", settings, min_submitted=2, limit=10) == (3, False)
    assert fake_argilla.record_count(DATASET) == 3  # stable ids: no duplicates
    assert fake_argilla.dataset(DATASET)["distribution"]["min_submitted"] == 2  # type: ignore[index]
    records = {r["external_id"]: r for r in fake_argilla.records(DATASET)}
    suggestion = records[record_id(engine, a)]["suggestions"][0]
    assert (suggestion["value"], suggestion["score"], suggestion["agent"]) == (
        "relevant",
        0.8,
        "model-primary",
    )

    fake_argilla.add_response(DATASET, record_id(engine, a), {"label": "irrelevant"}, username="r1")
    fake_argilla.add_response(DATASET, record_id(engine, a), {"label": "irrelevant"}, username="r2")
    fake_argilla.add_response(DATASET, record_id(engine, a), {"label": "relevant"}, username="r3")
    fake_argilla.add_response(DATASET, record_id(engine, b), {"label": "maybe"}, username="r1")
    fake_argilla.add_response(DATASET, record_id(engine, c), {"label": "maybe"}, username="r1")
    fake_argilla.add_response(DATASET, record_id(engine, c), {"label": "relevant"}, username="r2")
    summary = sync_labels(engine, "spectra", settings, min_submitted=2)
    assert (summary.applied, summary.pending, summary.tied) == (1, 1, 1)
    with session_scope(engine) as session:
        labels = dict(session.execute(select(Post.id, Post.human_label)).tuples().all())
        judged = list(session.scalars(select(Judgment).where(Judgment.post_id == a)))
    assert (labels[a], labels[b], labels[c]) == ("irrelevant", None, None)
    assert {j.human_label for j in judged} == {"irrelevant"}

    scores = traced.scores("human_label")
    assert {s["traceId"] for s in scores} == {j.trace_id for j in judged}  # both arms
    for score in scores:
        assert score["value"] == "irrelevant" and score["dataType"] == "CATEGORICAL"
        assert score["id"] == score_id_for(score["traceId"], "human_label")
    assert sync_labels(engine, "spectra", settings, min_submitted=2).unchanged == 1
    assert len(traced.sent_scores()) == 2  # an unchanged label is not sent again
    # A labelled post leaves the queue: the next push offers the other two only.
    assert push_for_labelling(engine, "spectra", settings, min_submitted=2, limit=10)[0] == 2


def test_sync_before_any_push_is_a_no_op(
    engine: Engine, spectra: ProjectConfig, fake_argilla: FakeArgillaServer
) -> None:
    settings = ArgillaSettings(fake_argilla.url, fake_argilla.api_key)
    assert sync_labels(engine, "spectra", settings, min_submitted=1).dataset_missing
    assert fake_argilla.dataset(DATASET) is None


def test_argilla_dataset_asset_offers_posts_and_applies_labels(
    engine: Engine,
    db_url: str,
    spectra: ProjectConfig,
    fake_argilla: FakeArgillaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster import EnvVar, materialize

    from signalops_assets.preferences.argilla_assets import argilla_dataset
    from signalops_assets.resources import ArgillaResource, DatabaseResource

    # The URL from the resource's config, the key from an EnvVar resolved at run time.
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.setenv("ARGILLA_API_KEY", fake_argilla.api_key)
    argilla = ArgillaResource(api_url=fake_argilla.url, api_key=EnvVar("ARGILLA_API_KEY"))
    monkeypatch.setenv("SIGNALOPS_PROJECT", "spectra")
    (post_id,) = seed(engine, 1)

    def run() -> dict[str, object]:
        result = materialize(
            [argilla_dataset],
            resources={"database": DatabaseResource(url=db_url), "argilla": argilla},
        )
        assert result.success
        (event,) = result.get_asset_materialization_events()
        assert fake_argilla.api_key not in str(event.materialization.metadata)
        return {k: v.value for k, v in event.materialization.metadata.items()}

    assert run()["human_labels_applied"] == 0
    assert fake_argilla.record_count(DATASET) == 1
    fake_argilla.add_response(DATASET, record_id(engine, post_id), {"label": "maybe"})
    assert run()["human_labels_applied"] == 1  # spectra: min_submitted 1, one reviewer decides
    with session_scope(engine) as session:
        assert session.get(Post, post_id).human_label == "maybe"  # type: ignore[union-attr]
