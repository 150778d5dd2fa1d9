"""The production instance: deploy/dagster.postgres.yaml on a fresh PostgreSQL database, the app
database on another, every asset of the code location materialized there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from signalops_assets_tests.conftest import REPO
from signalops_assets_tests.e2e.pg import fresh_databases

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]


@pytest.fixture
def pg_databases() -> Iterator[tuple[str, str]]:
    """Two fresh databases (Dagster's storage, the app's), dropped afterwards."""
    from signalops_assets.db.session import cached_engine

    with fresh_databases("dagster", "app") as (dagster_url, app_url):
        try:
            yield dagster_url, app_url
        finally:
            cached_engine.cache_clear()


def test_every_asset_materializes_on_the_postgres_instance(
    pg_databases: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import AssetsDefinition, DagsterInstance, DagsterRunStatus, materialize

    from signalops_assets.config import load_project
    from signalops_assets.db.migrate import ensure_schema
    from signalops_assets.db.session import cached_engine, session_scope
    from signalops_assets.definitions import defs
    from signalops_assets.posts import ensure_project, import_posts
    from signalops_assets.resources import DatabaseResource, LLMResource

    dagster_url, app_url = pg_databases
    pg = make_url(dagster_url)
    monkeypatch.setenv("DAGSTER_PG_HOST", pg.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_USER", pg.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", pg.password or "")
    monkeypatch.setenv("DAGSTER_PG_DB", pg.database or "")
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", app_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = (REPO / "deploy" / "dagster.postgres.yaml").read_text()
    if (pg.port or 5432) != 5432:  # SIGNALOPS_TEST_PG_URL on another port
        config = config.replace("port: 5432", f"port: {pg.port}")
    (home / "dagster.yaml").write_text(config)

    app = cached_engine(app_url)
    ensure_schema(app)
    with session_scope(app) as session:
        ensure_project(session, load_project("spectra"))
        import_posts(session, "spectra", REPO / "data" / "sample" / "posts.jsonl")

    assets = [a for a in defs.assets or [] if isinstance(a, AssetsDefinition) and a.is_executable]
    keys = {key for a in assets for key in a.keys}
    resources = {
        **(defs.resources or {}),
        "database": DatabaseResource(url=app_url),
        "llm": LLMResource(num_retries=0),
    }
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        result = materialize(assets, instance=instance, resources=resources)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        for key in keys:
            assert instance.get_latest_materialization_event(key) is not None, key
        # The `llm` pool got its limit from the instance config, in PostgreSQL.
        assert instance.event_log_storage.get_concurrency_info("llm").slot_count == 2

    # The same facts, read straight from Dagster's tables in PostgreSQL.
    storage = create_engine(dagster_url)
    try:
        with storage.connect() as conn:
            runs = conn.execute(
                text("SELECT status FROM runs WHERE run_id = :id"), {"id": result.run_id}
            ).scalar_one()
            materialized = conn.execute(
                text(
                    "SELECT count(DISTINCT asset_key) FROM event_logs "
                    "WHERE run_id = :id AND dagster_event_type = 'ASSET_MATERIALIZATION'"
                ),
                {"id": result.run_id},
            ).scalar_one()
    finally:
        storage.dispose()
    assert runs == "SUCCESS"
    assert materialized == len(keys)
    with app.connect() as conn:
        judged = conn.execute(text("SELECT count(*) FROM judgments")).scalar_one()
    assert judged >= 300
