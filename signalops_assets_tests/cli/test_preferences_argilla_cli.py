"""The Argilla CLI path a reviewer's team takes: review drafts, push the pairs with
`export training-data --output argilla`, review in Argilla, `preferences sync-argilla`, export."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from signalops_assets.argilla.records import default_dataset_name, record_id_for
from signalops_assets.argilla.sync import pairs_for_review
from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import PreferencePair
from signalops_assets.db.session import session_scope
from signalops_assets_tests.cli.helpers import invoke, one_line_error
from signalops_assets_tests.fakes.argilla_server import FakeArgillaServer
from signalops_assets_tests.preferences.review_helpers import BETTER, EDITED, make_drafts


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pair_rows(engine: Engine) -> list[tuple[int, str, str, bool, str | None]]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                PreferencePair.id,
                PreferencePair.chosen,
                PreferencePair.rejected,
                PreferencePair.filtered,
                PreferencePair.filter_reason,
            ).order_by(PreferencePair.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def reviewed(engine: Engine, spectra: ProjectConfig) -> list[int]:
    ids = make_drafts(engine, spectra, 2)
    assert invoke("drafts", "edit", str(ids[0]), "--text", EDITED).exit_code == 0
    assert invoke("drafts", "reject", str(ids[1]), "--better-text", BETTER).exit_code == 0
    with session_scope(engine) as session:
        return list(session.scalars(select(PreferencePair.id).order_by(PreferencePair.id)))


def test_push_review_sync_export(
    engine: Engine,
    reviewed: list[int],
    fake_argilla: FakeArgillaServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ARGILLA_API_URL", fake_argilla.url)
    monkeypatch.setenv("ARGILLA_API_KEY", fake_argilla.api_key)
    push = ("export", "training-data", "--type", "dpo", "--output", "argilla")
    first = invoke(*push, "--project", "spectra")
    assert first.exit_code == 0, first.output
    dataset = default_dataset_name("spectra")
    assert f"2 pairs pushed to Argilla dataset {dataset} (created" in first.output
    again = invoke(*push)
    assert again.exit_code == 0 and "(existing" in again.output
    assert fake_argilla.record_count(dataset) == 2  # pushing again never duplicates
    assert fake_argilla.api_key not in first.output + again.output

    review = {p.pair_id: p for p in pairs_for_review(engine, "spectra")}
    fake_argilla.add_response(dataset, record_id_for(review[reviewed[0]]), {"verdict": "swap"})
    fake_argilla.add_response(dataset, record_id_for(review[reviewed[1]]), {"verdict": "discard"})
    before = pair_rows(engine)
    synced = invoke("preferences", "sync-argilla", "--project", "spectra")
    assert synced.exit_code == 0, synced.output
    assert "2 decisions read; applied discard=1, swap=1" in synced.output
    after = {row[0]: row for row in pair_rows(engine)}
    swapped, discarded = after[reviewed[0]], after[reviewed[1]]
    assert (swapped[1], swapped[2]) == (before[0][2], before[0][1])
    assert discarded[3] and discarded[4] == "reviewer"
    assert "applied none; 2 unchanged" in invoke("preferences", "sync-argilla").output

    # The next export follows the reviewers: one pair, with the swapped sides.
    out = tmp_path / "out"
    exported = invoke("export", "training-data", "--type", "dpo", "--output", str(out))
    assert exported.exit_code == 0, exported.output
    lines = [
        json.loads(line)
        for name in ("train", "eval")
        for line in (out / "spectra" / "dpo" / f"{name}.jsonl").read_text().splitlines()
    ]
    assert len(lines) == 1 and lines[0]["chosen"] == before[0][2]  # trl: plain strings


def test_not_configured_bad_key_unreachable_are_one_line_exit_2(
    engine: Engine,
    reviewed: list[int],
    fake_argilla: FakeArgillaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = pair_rows(engine)
    push = ("export", "training-data", "--type", "dpo", "--output", "argilla")
    one_line_error(invoke(*push), "ARGILLA_API_URL")
    one_line_error(invoke("preferences", "sync-argilla"), "ARGILLA_API_URL")
    monkeypatch.setenv("ARGILLA_API_URL", fake_argilla.url)
    one_line_error(invoke(*push), "ARGILLA_API_KEY")

    monkeypatch.setenv("ARGILLA_API_KEY", "sk-wrong-key-123456")
    for result in (invoke(*push), invoke("preferences", "sync-argilla")):
        one_line_error(result, "401")
        assert "sk-wrong-key-123456" not in result.output
    unreachable = f"http://127.0.0.1:{closed_port()}"
    one_line_error(invoke(*push, "--argilla-url", unreachable), "unreachable")
    one_line_error(invoke(*push, "--project", "nope"), "nope")
    one_line_error(
        invoke("export", "training-data", "--type", "dpo", "--dataset", "x"), "--output argilla"
    )
    assert pair_rows(engine) == before  # nothing local changed
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(PreferencePair)) == 2
