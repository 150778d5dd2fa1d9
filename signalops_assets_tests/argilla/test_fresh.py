"""Argilla configured on a fresh database (#18 item 2): the review dataset exists from the first
push even with no pairs, and a sync before any push is a no-op that says so."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from dagster import materialize
from sqlalchemy import Engine

from signalops_assets.argilla.records import default_dataset_name
from signalops_assets.argilla.settings import ArgillaSettings
from signalops_assets.argilla.sync import push_project, sync_project
from signalops_assets.cli.main import cli
from signalops_assets.config import ProjectConfig
from signalops_assets.preferences.argilla_assets import argilla_dataset
from signalops_assets.resources import DatabaseResource, default_resources
from signalops_assets_tests.fakes.argilla_server import FakeArgillaServer

DATASET = default_dataset_name("spectra")


def settings(fake: FakeArgillaServer) -> ArgillaSettings:
    return ArgillaSettings(api_url=fake.url, api_key=fake.api_key, workspace="argilla")


def test_no_pairs_still_creates_the_dataset_and_sync_before_it_is_a_no_op(
    engine: Engine, spectra: ProjectConfig, fake_argilla: FakeArgillaServer
) -> None:
    missing = sync_project(engine, "spectra", settings(fake_argilla))
    assert missing.dataset_missing and missing.decisions_read == 0
    assert fake_argilla.dataset(DATASET) is None  # a sync never creates anything

    pushed = push_project(engine, "spectra", settings(fake_argilla))
    assert (pushed.pushed, pushed.created_dataset) == (0, True)
    assert fake_argilla.dataset(DATASET) is not None and fake_argilla.record_count(DATASET) == 0
    assert not push_project(engine, "spectra", settings(fake_argilla)).created_dataset
    synced = sync_project(engine, "spectra", settings(fake_argilla))
    assert not synced.dataset_missing and synced.decisions_read == 0


def test_cli_sync_before_any_push_says_so_and_exits_0(
    engine: Engine,
    spectra: ProjectConfig,
    fake_argilla: FakeArgillaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARGILLA_API_URL", fake_argilla.url)
    monkeypatch.setenv("ARGILLA_API_KEY", fake_argilla.api_key)
    result = CliRunner().invoke(cli, ["preferences", "sync-argilla", "--project", "spectra"])
    assert result.exit_code == 0, result.output
    assert f"spectra: no Argilla dataset '{DATASET}' yet (nothing pushed)" in result.output
    assert fake_argilla.dataset(DATASET) is None


def test_asset_on_a_fresh_database_creates_the_dataset_and_succeeds(
    engine: Engine,
    db_url: str,
    spectra: ProjectConfig,
    fake_argilla: FakeArgillaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARGILLA_API_URL", fake_argilla.url)
    monkeypatch.setenv("ARGILLA_API_KEY", fake_argilla.api_key)
    monkeypatch.setenv("SIGNALOPS_PROJECT", "spectra")
    for _ in range(2):  # and again: nothing new, still green
        result = materialize(
            [argilla_dataset],
            # The code location's resources: the Argilla settings as EnvVars, read at run time.
            resources={**default_resources(), "database": DatabaseResource(url=db_url)},
            selection=["argilla_dataset"],
        )
        assert result.success
    assert fake_argilla.dataset(DATASET) is not None and fake_argilla.record_count(DATASET) == 0
