# mypy: disable-error-code="no-untyped-call"
"""The instance and run-config files under deploy/ and the embedded dagster.yaml validate against
Dagster's own config schemas; LLM-calling assets share the `llm` pool the instances limit.

The k8s run launcher block is checked against dagster-k8s's own schema and the Celery run
config against dagster-celery's executor (both dev dependencies, same release as dagster).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInvalidConfigError
from dagster._config import process_config, validate_config
from dagster._core.instance.config import dagster_instance_config

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
PG_ENV = {
    "DAGSTER_PG_HOST": "db.internal",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "s3cret",
    "DAGSTER_PG_DB": "dagster",
}


def k8s_run_launcher_schema() -> Any:
    from dagster_k8s import K8sRunLauncher

    return K8sRunLauncher.config_type()


def load_instance_config(path: Path, monkeypatch: pytest.MonkeyPatch) -> Mapping[str, Any]:
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    config, custom_class = dagster_instance_config(str(path.parent), path.name)
    assert custom_class is None
    return config


def resolved_pg(config: Mapping[str, Any]) -> dict[str, Any]:
    from dagster_postgres.utils import pg_config

    result = process_config(pg_config(), config["storage"]["postgres"])
    assert result.success, result.errors
    return dict(result.value["postgres_db"])  # type: ignore[index]


def test_embedded_instance_caps_runs_and_the_llm_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance

    config = load_instance_config(REPO / "dagster.yaml", monkeypatch)
    assert config["telemetry"] == {"enabled": False}
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 2
        assert concurrency.run_queue_config is not None
        assert concurrency.run_queue_config.max_concurrent_runs == 2  # what SQLite takes
        # A crashed or killed run is noticed and retried on the embedded instance too.
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert instance.run_retries_max_retries == 1
        assert instance.run_retries_retry_on_asset_or_op_failure is False


@pytest.mark.parametrize("name", ["dagster.postgres.yaml", "dagster.k8s.yaml"])
def test_production_instances_store_on_postgres_from_env(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_instance_config(DEPLOY / name, monkeypatch)
    assert set(config["storage"]) == {"postgres"}
    assert resolved_pg(config) | {"params": {}} == {
        "hostname": "db.internal",
        "username": "dagster",
        "password": "s3cret",
        "db_name": "dagster",
        "port": 5432,
        "params": {},
        # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3, which is not installed.
        "scheme": "postgresql+psycopg2",
    }
    assert config["telemetry"] == {"enabled": False}
    assert config["concurrency"]["pools"]["default_limit"] >= 1
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 1
    # Only worker crashes are retried; an LLM outage must not re-run whole jobs by itself.
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False
    # Secrets come from the environment, never literally from the file.
    raw = yaml.safe_load((DEPLOY / name).read_text())
    assert raw["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}


def test_missing_pg_env_var_fails_when_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_instance_config(DEPLOY / "dagster.postgres.yaml", monkeypatch)
    monkeypatch.delenv("DAGSTER_PG_HOST")
    from dagster_postgres.utils import pg_config

    result = process_config(pg_config(), config["storage"]["postgres"])
    assert not result.success
    assert "DAGSTER_PG_HOST" in str(result.errors)


def test_k8s_run_launcher_block_matches_k8s_run_launcher_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_instance_config(DEPLOY / "dagster.k8s.yaml", monkeypatch)
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    schema = k8s_run_launcher_schema()
    assert validate_config(schema, launcher["config"]).success
    monkeypatch.setenv("DAGSTER_K8S_JOB_IMAGE", "registry.example/signalops:1")
    monkeypatch.setenv("DAGSTER_K8S_JOB_NAMESPACE", "signalops")
    resolved = process_config(schema, launcher["config"])
    assert resolved.success, resolved.errors
    value: dict[str, Any] = resolved.value  # type: ignore[assignment]
    assert value["job_image"] == "registry.example/signalops:1"
    assert value["job_namespace"] == "signalops"
    assert value["env_secrets"] == ["signalops-llm-keys"]
    # The schema is strict: a misspelt field is an error.
    misspelt = {**launcher["config"], "job_imagee": "x"}
    assert not validate_config(schema, misspelt).success


def test_celery_run_config_matches_celery_executor_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster import Definitions as Defs
    from dagster import asset, define_asset_job, validate_run_config
    from dagster_celery import celery_executor

    run_config = yaml.safe_load((DEPLOY / "dagster.celery.yaml").read_text())

    @asset
    def step() -> None:
        return None

    job = Defs(
        assets=[step],
        jobs=[define_asset_job("j", selection=[step], executor_def=celery_executor)],
    ).resolve_job_def("j")
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://redis:6379/1")
    # Dagster resolves `execution: config:` to the executor's name, env vars substituted.
    resolved = validate_run_config(job, run_config)["execution"]["celery"]
    assert resolved["broker"] == "redis://redis:6379/0"
    assert resolved["config_source"]["worker_prefetch_multiplier"] == 1
    typo = {"execution": {"config": {**run_config["execution"]["config"], "brokr": "x"}}}
    with pytest.raises(DagsterInvalidConfigError):
        validate_run_config(job, typo)


def test_llm_calling_assets_share_the_llm_pool() -> None:
    from signalops_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    llm_assets = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable and "llm" in node.assets_def.required_resource_keys:
            llm_assets[key.to_user_string()] = node.pools
    # judged_posts always; drafts (the draft model) once it is defined.
    assert "judged_posts" in llm_assets
    assert all(pools == {"llm"} for pools in llm_assets.values()), llm_assets
    for name in ("judged_posts", "drafts"):
        if graph.has(_key(name)):
            assert graph.get(_key(name)).pools == {"llm"}


def _key(name: str) -> Any:
    from dagster import AssetKey

    return AssetKey(name)
