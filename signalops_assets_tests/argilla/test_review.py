"""Argilla review of preference pairs: the real ``argilla`` SDK against the local fake server."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from typing import Any

import pytest

from signalops_assets.argilla.client import ArgillaError
from signalops_assets.argilla.records import (
    PairForReview,
    SubmittedReview,
    build_record,
    chosen_side_for,
    record_id_for,
    resolve_decision,
)
from signalops_assets.argilla.review import PushSummary, fetch_decisions, push_pairs
from signalops_assets.argilla.settings import ArgillaSettings, argilla_settings
from signalops_assets_tests.fakes.argilla_server import FakeArgillaServer

DATASET = "acme-dpo-review"


def make_pair(pair_id: int, *, project: str = "acme", chosen: str | None = None) -> PairForReview:
    return PairForReview(
        pair_id=pair_id,
        project_id=project,
        post_text=f"Post {pair_id}: is the new sensor any good?",
        prompt=f"Write a helpful reply.\n\nPost {pair_id}: is the new sensor any good?",
        chosen=chosen or f"Edited reply {pair_id}: yes, and here is why.",
        rejected=f"Drafted reply {pair_id}: it is fine I guess.",
        source="edit",
        edit_ratio=0.25 if pair_id % 2 else None,
        length_delta=pair_id * 3 if pair_id % 2 else None,
    )


def push(server: FakeArgillaServer, pairs: list[PairForReview], **kwargs: Any) -> PushSummary:
    return push_pairs(pairs, api_url=server.url, api_key=server.api_key, **kwargs)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- pure parts --------------------------------------------------------------------------------


def test_settings_from_env_none_without_vars() -> None:
    assert argilla_settings(environ={}) is None
    assert argilla_settings(environ={"ARGILLA_API_URL": " ", "ARGILLA_API_KEY": ""}) is None


def test_settings_from_env_half_configured_warns_without_leaking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert argilla_settings(environ={"ARGILLA_API_KEY": "s3cret-key"}) is None
    assert "ARGILLA_API_URL" in caplog.text
    assert "s3cret-key" not in caplog.text


def test_settings_from_env_reads_vars_and_hides_key() -> None:
    settings = argilla_settings(
        environ={
            "ARGILLA_API_URL": "http://user:pw@argilla.local:6900/",
            "ARGILLA_API_KEY": "s3cret-key",
            "ARGILLA_WORKSPACE": "review",
        }
    )
    assert settings == ArgillaSettings(
        api_url="http://user:pw@argilla.local:6900", api_key="s3cret-key", workspace="review"
    )
    for text in (repr(settings), str(settings)):
        assert "s3cret-key" not in text
        assert "pw@" not in text
        assert "argilla.local:6900" in text


def test_record_layout_and_stable_ids() -> None:
    sides = {chosen_side_for(make_pair(i)) for i in range(1, 40)}
    assert sides == {"a", "b"}  # the shuffle really goes both ways

    pair = make_pair(7)
    record = build_record(pair)
    assert record == build_record(make_pair(7))  # deterministic
    assert record["id"] == record_id_for(pair) and record["id"].startswith("pair-7-")
    side = record["metadata"]["chosen_side"]
    assert record["fields"][f"response_{side}"] == pair.chosen
    assert record["fields"]["response_" + ("b" if side == "a" else "a")] == pair.rejected
    assert record["fields"]["prompt"] == [{"role": "user", "content": pair.prompt}]
    assert "post" not in record["fields"]  # already inside the prompt
    assert record["metadata"] == {
        "pair_id": 7,
        "project": "acme",
        "source": "edit",
        "chosen_side": side,
        "edit_ratio": 0.25,
        "length_delta": 21,
    }
    assert "edit_ratio" not in build_record(make_pair(8))["metadata"]  # None is left out
    standalone = dataclasses.replace(pair, prompt="Reply in one sentence.")
    assert build_record(standalone)["fields"]["post"] == pair.post_text

    assert record_id_for(make_pair(7, chosen="Another edit")) != record["id"]
    assert record_id_for(make_pair(7, project="other")) != record["id"]

    with pytest.raises(ValueError, match="unknown source"):
        build_record(dataclasses.replace(pair, source="magic"))
    with pytest.raises(ValueError, match="non-empty"):
        build_record(dataclasses.replace(pair, rejected="  "))


@pytest.mark.parametrize(
    ("label", "ranking", "side", "expected"),
    [
        ("discard", ["a", "b"], "a", "discard"),
        ("keep", ["a", "b"], "a", "keep"),
        ("keep", ["b", "a"], "a", "swap"),  # blind ranking decides the direction
        ("swap", None, "a", "swap"),
        ("keep", [], "b", "keep"),
        (None, ["b", "a"], "b", "keep"),
        (None, None, "a", None),
        ("maybe", None, "a", None),
    ],
)
def test_resolve_decision(
    label: str | None, ranking: list[str] | None, side: str, expected: str | None
) -> None:
    assert resolve_decision(label, ranking, side) == expected


def test_push_mixed_projects_needs_dataset_and_empty_push_only_creates_the_dataset(
    fake_argilla: FakeArgillaServer,
) -> None:
    with pytest.raises(ValueError, match="several projects"):
        push(fake_argilla, [make_pair(1), make_pair(2, project="other")])
    summary = push(fake_argilla, [])  # no pairs and no dataset name: nothing to address
    assert summary.pushed == 0 and not summary.created_dataset
    assert fake_argilla.requests == []
    summary = push(fake_argilla, [], dataset=DATASET)  # a fresh project: the dataset exists
    assert summary.pushed == 0 and summary.created_dataset
    assert fake_argilla.dataset(DATASET) is not None and fake_argilla.record_count(DATASET) == 0


# -- against the fake server -------------------------------------------------------------------


def test_push_creates_dataset_with_review_schema(fake_argilla: FakeArgillaServer) -> None:
    pairs = [make_pair(i) for i in (1, 2, 3)]
    summary = push(fake_argilla, pairs)

    assert summary == PushSummary(
        dataset=DATASET, workspace="argilla", pushed=3, created_dataset=True
    )
    dataset = fake_argilla.dataset(DATASET)
    assert dataset is not None and dataset["status"] == "ready"
    assert dataset["guidelines"] and dataset["allow_extra_metadata"] is False

    schema = fake_argilla.schema(DATASET)
    assert {f["name"]: f["settings"]["type"] for f in schema["fields"]} == {
        "prompt": "chat",
        "post": "text",
        "response_a": "text",
        "response_b": "text",
    }
    questions = {q["name"]: q for q in schema["questions"]}
    assert questions["ranking"]["settings"]["type"] == "ranking"
    assert [o["value"] for o in questions["ranking"]["settings"]["options"]] == ["a", "b"]
    assert questions["verdict"]["settings"]["type"] == "label_selection"
    assert [o["value"] for o in questions["verdict"]["settings"]["options"]] == [
        "keep",
        "swap",
        "discard",
    ]
    metadata = {m["name"]: m for m in schema["metadata"]}
    assert {n: m["settings"]["type"] for n, m in metadata.items()} == {
        "pair_id": "integer",
        "project": "terms",
        "source": "terms",
        "edit_ratio": "float",
        "length_delta": "integer",
        "chosen_side": "terms",
    }
    hidden = {n for n, m in metadata.items() if not m["visible_for_annotators"]}
    assert hidden == {"pair_id", "length_delta", "chosen_side"}

    records = fake_argilla.records(DATASET)
    assert [r["external_id"] for r in records] == [record_id_for(p) for p in pairs]
    for pair, record in zip(pairs, records, strict=True):
        side = record["metadata"]["chosen_side"]
        assert side == chosen_side_for(pair)
        assert record["fields"][f"response_{side}"] == pair.chosen
        assert record["fields"]["prompt"] == [{"role": "user", "content": pair.prompt}]
        assert record["metadata"]["pair_id"] == pair.pair_id


def test_push_again_never_duplicates(fake_argilla: FakeArgillaServer) -> None:
    pairs = [make_pair(i) for i in (1, 2, 3)]
    push(fake_argilla, pairs)
    assert fake_argilla.record_count(DATASET) == 3

    again = push(fake_argilla, pairs)
    assert again.created_dataset is False and again.pushed == 3
    assert fake_argilla.record_count(DATASET) == 3

    push(fake_argilla, [*pairs, make_pair(4)])
    assert fake_argilla.record_count(DATASET) == 4

    # A duplicate inside one push is sent once.
    push(fake_argilla, [make_pair(4), make_pair(4)])
    assert fake_argilla.record_count(DATASET) == 4

    # Changed text is a new record (the server would not update the old record's fields).
    push(fake_argilla, [make_pair(1, chosen="A better edit")])
    assert fake_argilla.record_count(DATASET) == 5


def test_push_in_batches(fake_argilla: FakeArgillaServer) -> None:
    push(fake_argilla, [make_pair(i) for i in range(1, 6)], batch_size=2)
    assert len(fake_argilla.calls("PUT", r"/records/bulk$")) == 3
    assert fake_argilla.record_count(DATASET) == 5


def test_fetch_decisions_maps_submitted_responses_to_pairs(fake_argilla: FakeArgillaServer) -> None:
    pairs = {i: make_pair(i) for i in (1, 2, 3, 4)}
    push(fake_argilla, list(pairs.values()))

    def rid(i: int) -> str:
        return record_id_for(pairs[i])

    def other(side: str) -> str:
        return "b" if side == "a" else "a"

    fake_argilla.add_response(DATASET, rid(1), {"verdict": "swap"}, username="ana")
    fake_argilla.add_response(DATASET, rid(2), {"verdict": "discard"}, username="ana")
    side3 = chosen_side_for(pairs[3])
    fake_argilla.add_response(
        DATASET, rid(3), {"verdict": "keep", "ranking": [side3, other(side3)]}, username="ana"
    )
    # A second reviewer ranks pair 3 the other way round: a swap, derived from the ranking.
    fake_argilla.add_response(
        DATASET, rid(3), {"verdict": "keep", "ranking": [other(side3), side3]}, username="bo"
    )
    fake_argilla.add_response(DATASET, rid(4), {"verdict": "keep"}, status="draft", username="bo")

    decisions = fetch_decisions(
        api_url=fake_argilla.url, api_key=fake_argilla.api_key, workspace="argilla", dataset=DATASET
    )
    assert decisions == [
        SubmittedReview(pair_id=1, decision="swap", reviewer="ana", record_id=rid(1)),
        SubmittedReview(pair_id=2, decision="discard", reviewer="ana", record_id=rid(2)),
        SubmittedReview(pair_id=3, decision="keep", reviewer="ana", record_id=rid(3)),
        SubmittedReview(pair_id=3, decision="swap", reviewer="bo", record_id=rid(3)),
    ]
    # Re-pushing keeps the reviewed records and their responses.
    push(fake_argilla, list(pairs.values()))
    assert fake_argilla.record_count(DATASET) == 4
    assert (
        len(
            fetch_decisions(api_url=fake_argilla.url, api_key=fake_argilla.api_key, dataset=DATASET)
        )
        == 4
    )


def test_ranking_order_uses_rank_not_list_order(fake_argilla: FakeArgillaServer) -> None:
    pair = make_pair(5)
    push(fake_argilla, [pair])
    side = chosen_side_for(pair)
    loser = "b" if side == "a" else "a"
    # Server-shaped ranking listed in option order with the chosen side ranked 2nd.
    ranking = {"value": [{"value": side, "rank": 2}, {"value": loser, "rank": 1}]}
    fake_argilla.add_response(DATASET, record_id_for(pair), {"verdict": "keep", "ranking": ranking})
    [decision] = fetch_decisions(
        api_url=fake_argilla.url, api_key=fake_argilla.api_key, dataset=DATASET
    )
    assert decision.decision == "swap"


def test_bad_key_is_a_one_line_error_without_the_key(
    fake_argilla: FakeArgillaServer, caplog: pytest.LogCaptureFixture
) -> None:
    bad_key = "sk-bad-key-0123456789"
    caplog.set_level(logging.DEBUG)  # the SDK, httpx and httpcore log at DEBUG/INFO
    for call in (
        lambda: push_pairs([make_pair(1)], api_url=fake_argilla.url, api_key=bad_key),
        lambda: fetch_decisions(api_url=fake_argilla.url, api_key=bad_key, dataset=DATASET),
    ):
        with pytest.raises(ArgillaError) as info:
            call()
        message = str(info.value)
        assert "401" in message and fake_argilla.url in message
        assert bad_key not in message and "\n" not in message
    assert bad_key not in caplog.text
    assert fake_argilla.calls() == ["/api/v1/me", "/api/v1/me"]


@pytest.mark.timeout(20)
def test_unreachable_server_fails_fast() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(ArgillaError, match="unreachable") as info:
        push_pairs([make_pair(1)], api_url=url, api_key="sk-secret-xyz", timeout=2.0, retries=0)
    assert time.monotonic() - start < 3
    assert url in str(info.value) and "sk-secret-xyz" not in str(info.value)


def test_server_errors_become_argilla_errors(fake_argilla: FakeArgillaServer) -> None:
    fake_argilla.fail_next("PUT", r"/records/bulk$", status=500)
    with pytest.raises(ArgillaError, match=r"failed to push pairs: HTTP 500") as info:
        push(fake_argilla, [make_pair(1)])
    assert "\n" not in str(info.value) and fake_argilla.url in str(info.value)

    with pytest.raises(ArgillaError, match="no workspace 'missing'"):
        push(fake_argilla, [make_pair(1)], workspace="missing")

    with pytest.raises(ArgillaError, match="no dataset 'nope'"):
        fetch_decisions(api_url=fake_argilla.url, api_key=fake_argilla.api_key, dataset="nope")


def test_existing_dataset_with_other_schema_is_refused(fake_argilla: FakeArgillaServer) -> None:
    push(fake_argilla, [make_pair(1)], dataset="taken")
    # Simulate a dataset someone else made with the same name but another layout.
    with fake_argilla._lock:
        ds = fake_argilla.dataset("taken")
        assert ds is not None
        fake_argilla._metadata[ds["id"]] = [
            m for m in fake_argilla._metadata[ds["id"]] if m["name"] != "chosen_side"
        ]
    with pytest.raises(ArgillaError, match=r"another schema.*chosen_side"):
        push(fake_argilla, [make_pair(2)], dataset="taken")
