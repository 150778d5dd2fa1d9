"""No stranded events: a dpo_export_job run that the sensor requested and that fails mid-way
(before collecting, or after collecting but before exporting) leaves its events pending; the
next tick requests them again, with no new review, and the retried run delivers the pair once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunRequest, build_sensor_context
from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import PreferencePair
from signalops_assets.db.session import session_scope
from signalops_assets.preferences import drafts as d
from signalops_assets.preferences.events import collector_position
from signalops_assets.preferences.formats import validate_file
from signalops_assets.preferences.sensors import draft_edits_sensor
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.preferences.review_helpers import EDITED, make_drafts


class Sensor:
    """The sensor as the daemon drives it: one instance, the cursor carried between ticks."""

    def __init__(self, db_url: str, instance: DagsterInstance) -> None:
        self.db_url, self.instance, self.cursor = db_url, instance, None

    def tick(self) -> tuple[list[RunRequest], str | None]:
        context = build_sensor_context(
            cursor=self.cursor,
            instance=self.instance,
            resources={"database": DatabaseResource(url=self.db_url)},
        )
        data = draft_edits_sensor.evaluate_tick(context)
        self.cursor = data.cursor if data.cursor is not None else self.cursor
        return list(data.run_requests or []), data.skip_message

    def launch(self, request: RunRequest) -> bool:
        """What the daemon does with a request: a run of dpo_export_job with its key and tags."""
        from signalops_assets.definitions import defs

        tags = {**request.tags, "dagster/run_key": request.run_key or ""}
        result = defs.resolve_job_def("dpo_export_job").execute_in_process(
            instance=self.instance,
            tags=tags,
            resources={"database": DatabaseResource(url=self.db_url), "llm": LLMResource()},
            raise_on_error=False,
        )
        return bool(result.success)


def pairs(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(PreferencePair)) or 0


def exported_lines(root: Path) -> int:
    files = [root / "spectra" / "dpo" / f"{s}.jsonl" for s in ("train", "eval")]
    return sum(validate_file(f, "trl").lines for f in files if f.is_file())


def test_a_run_failing_after_collection_is_requested_again(
    engine: Engine,
    db_url: str,
    spectra: ProjectConfig,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = make_drafts(engine, spectra, 2)
    with session_scope(engine) as session:
        d.edit(session, ids[0], EDITED)
    with DagsterInstance.ephemeral() as instance:
        sensor = Sensor(db_url, instance)
        (request,) = sensor.tick()[0]
        # The export directory is unusable: preference_pairs collects, dpo_jsonl then fails.
        blocker = isolated_env / "not-a-dir"
        blocker.write_text("")
        monkeypatch.setenv("SIGNALOPS_EXPORT_DIR", str(blocker))
        assert not sensor.launch(request)
        assert pairs(engine) == 1 and collector_position(engine) == 1

        monkeypatch.setenv("SIGNALOPS_EXPORT_DIR", str(isolated_env / "exports"))
        (again,) = sensor.tick()[0]  # no new review since
        assert again.run_key != request.run_key and again.run_key.endswith("-retry1")
        assert sensor.launch(again)
        assert pairs(engine) == 1 and exported_lines(isolated_env / "exports") == 1
        requests, skip = sensor.tick()
        assert requests == [] and skip == "no draft events after id 1"


def test_a_run_failing_before_collection_is_requested_again(
    engine: Engine, db_url: str, spectra: ProjectConfig, isolated_env: Path
) -> None:
    ids = make_drafts(engine, spectra, 3)
    with session_scope(engine) as session:
        d.approve(session, ids[0])
        d.edit(session, ids[1], EDITED)
    config = isolated_env / "projects" / "spectra.yaml"
    good = config.read_text()
    with DagsterInstance.ephemeral() as instance:
        sensor = Sensor(db_url, instance)
        (request,) = sensor.tick()[0]
        assert request.tags["signalops/draft_events"] == "1-2"
        # A broken project file fails the collector mid-batch: nothing is committed.
        config.write_text(good + "\nquality: {min_edit_ratio: lots}\n")
        assert not sensor.launch(request)
        assert pairs(engine) == 0 and collector_position(engine) == 0

        config.write_text(good)
        (again,) = sensor.tick()[0]
        assert again.tags["signalops/draft_events"] == "1-2" and again.run_key != request.run_key
        assert sensor.launch(again)
        assert pairs(engine) == 1 and exported_lines(isolated_env / "exports") == 1
        assert sensor.tick()[0] == []
        assert json.loads(sensor.cursor or "{}")["seen"] == 2


def test_events_exported_before_the_sensor_started_request_nothing(
    engine: Engine, db_url: str, spectra: ProjectConfig
) -> None:
    """`make run` then `make dev`: the first tick sees the export is current."""
    ids = make_drafts(engine, spectra, 2)
    with session_scope(engine) as session:
        d.edit(session, ids[0], EDITED)
        d.approve(session, ids[1])
    with DagsterInstance.ephemeral() as instance:
        sensor = Sensor(db_url, instance)
        from signalops_assets.definitions import defs

        job = defs.resolve_job_def("dpo_export_job")
        resources = {"database": DatabaseResource(url=db_url), "llm": LLMResource()}
        assert job.execute_in_process(instance=instance, resources=resources).success
        requests, skip = sensor.tick()
        assert requests == [] and skip == "no draft events after id 2"
