"""Preference pairs pushed to the real Argilla SDK's fake server, decisions applied back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from signalops_assets.argilla.records import default_dataset_name, record_id_for
from signalops_assets.argilla.settings import ArgillaSettings
from signalops_assets.argilla.sync import (
    _for_review,
    pairs_for_review,
    push_project,
    sync_project,
)
from signalops_assets.db.models import Draft, Post, PreferencePair, Project
from signalops_assets.db.session import session_scope
from signalops_assets_tests.fakes.argilla_server import FakeArgillaServer


def seed_pairs(engine: Engine, n: int = 3) -> list[int]:
    ids = []
    with session_scope(engine) as session:
        session.add(Project(project_id="p", name="P"))
        session.flush()
        for i in range(n):
            post = Post(
                project_id="p",
                platform_id=f"x:{i}",
                text=f"post {i} about tracing",
                created_at=datetime.now(UTC),
            )
            session.add(post)
            session.flush()
            prompt = json.dumps([{"role": "user", "content": f"reply to post {i}"}])
            draft = Draft(
                post_id=post.id,
                project_id="p",
                prompt=prompt,
                text_generated=f"generated {i}",
                text_final=f"edited reply {i}",
                status="edited",
            )
            session.add(draft)
            session.flush()
            pair = PreferencePair(
                project_id="p",
                draft_id=draft.id,
                post_id=post.id,
                prompt=prompt,
                chosen=f"edited reply {i}",
                rejected=f"generated {i}",
                source="edit",
                edit_ratio=0.4,
                length_delta=3,
            )
            session.add(pair)
            session.flush()
            ids.append(pair.id)
    return ids


def test_push_sync_swap_discard_and_idempotence(
    engine: Engine, fake_argilla: FakeArgillaServer
) -> None:
    ids = seed_pairs(engine)
    settings = ArgillaSettings(api_url=fake_argilla.url, api_key=fake_argilla.api_key)
    dataset = default_dataset_name("p")
    first = push_project(engine, "p", settings)
    assert first.pushed == 3 and first.created_dataset
    assert push_project(engine, "p", settings).pushed == 3
    assert fake_argilla.record_count(dataset) == 3  # re-push never duplicates

    review = {p.pair_id: p for p in pairs_for_review(engine, "p")}
    fake_argilla.add_response(dataset, record_id_for(review[ids[0]]), {"verdict": "swap"})
    fake_argilla.add_response(dataset, record_id_for(review[ids[1]]), {"verdict": "discard"})
    fake_argilla.add_response(dataset, record_id_for(review[ids[2]]), {"verdict": "keep"})
    summary = sync_project(engine, "p", settings)
    assert summary.applied == {"swap": 1, "discard": 1}
    with session_scope(engine) as session:
        swapped = session.get(PreferencePair, ids[0])
        discarded = session.get(PreferencePair, ids[1])
        assert swapped and swapped.chosen == "generated 0" and swapped.rejected == "edited reply 0"
        assert discarded and discarded.filtered and discarded.filter_reason == "reviewer"
        # The swapped pair keeps its record identity, so pushing again adds nothing.
        post_text = session.scalar(select(Post.text).where(Post.id == swapped.post_id)) or ""
        assert record_id_for(_for_review(swapped, post_text)) == record_id_for(review[ids[0]])
    again = sync_project(engine, "p", settings)
    assert not again.applied and again.unchanged == 3
    push_project(engine, "p", settings)
    assert fake_argilla.record_count(dataset) == 3


def test_min_submitted_reviewers_complete_a_record_and_their_majority_decides(
    engine: Engine, fake_argilla: FakeArgillaServer
) -> None:
    settings = ArgillaSettings(fake_argilla.url, fake_argilla.api_key)
    pair_id = seed_pairs(engine, 1)[0]
    push_project(engine, "p", settings, min_submitted=3)
    dataset = default_dataset_name("p")
    assert fake_argilla.dataset(dataset)["distribution"]["min_submitted"] == 3  # type: ignore[index]
    record = record_id_for(pairs_for_review(engine, "p")[0])
    fake_argilla.add_response(dataset, record, {"verdict": "swap"}, username="r1")
    fake_argilla.add_response(dataset, record, {"verdict": "discard"}, username="r2")
    two = sync_project(engine, "p", settings, min_submitted=3)
    assert (two.pending, sum(two.applied.values())) == (1, 0)  # two of three: nothing yet
    assert fake_argilla.records(dataset)[0]["status"] == "pending"
    fake_argilla.add_response(dataset, record, {"verdict": "swap"}, username="r3")
    assert fake_argilla.records(dataset)[0]["status"] == "completed"
    three = sync_project(engine, "p", settings, min_submitted=3)
    assert dict(three.applied) == {"swap": 1} and three.pending == 0
    with session_scope(engine) as session:
        pair = session.get(PreferencePair, pair_id)
        assert pair is not None and (pair.chosen, pair.review_decision) == ("generated 0", "swap")
