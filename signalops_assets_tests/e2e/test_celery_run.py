"""A real distributed run: `judging_job` and `dpo_export_job` with the Celery executor
(SIGNALOPS_EXECUTOR=celery, run config deploy/dagster.celery.yaml) on the Redis broker, two
Celery worker processes started here (`dagster-celery worker start`), the PostgreSQL instance
(deploy/dagster.postgres.yaml) and a PostgreSQL app database.

The instance's `llm` pool has one slot and each judging step one call in flight: two judging
runs at once, whichever workers take their steps, never have more than one request at the fake
provider at the same moment. Without the pool their judged_posts steps would overlap.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from signalops_assets_tests.conftest import REPO
from signalops_assets_tests.e2e.conftest import (
    BIN,
    SCRUBBED_PREFIXES,
    start_group,
    stop_group,
    wait_for,
)
from signalops_assets_tests.e2e.pg import fresh_databases
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# A database number of this test's own: flushed before and after, the others left alone.
REDIS_DB = 7
BROKER = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
POOL_LIMIT = 1
# As README's worker command: the code location and LiteLLM imported once per worker, before
# its pool forks, not by every pool process on its first step.
PRELOAD = ("-i", "signalops_assets.definitions", "-i", "litellm")
WORKERS = ("w1", "w2")
RUN_TIMEOUT_S = 300.0
# Judging slowly until the export run is through keeps one worker busy meanwhile, so the
# export's steps must go to the other one; then the provider answers at full speed. The
# slow budget (POSTS x SLOW_MS, one call at a time) is far above what the export run takes.
SLOW_MS = 4000.0
POSTS = 60
EDITED = (
    "Thanks for the report! `spectra trace -- your-cmd` shows which service adds the p99 "
    "latency; happy to look at the trace with you."
)


@pytest.fixture
def redis_db() -> Iterator[Any]:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2):
            pass
    except OSError as exc:
        pytest.skip(f"no Redis broker at {REDIS_HOST}:{REDIS_PORT} ({exc})")
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def project_config(root: Path) -> Path:
    """spectra, judged by an OpenAI-compatible model (the fake), one call in flight per step."""
    projects = root / "projects"  # the test's own (isolated_env), shared with the processes
    projects.mkdir(exist_ok=True)
    text = (REPO / "data" / "projects" / "spectra.yaml").read_text()
    text = text.replace("judge_model: local/keyword-judge", "judge_model: openai/judge-celery")
    text = text.replace("max_concurrency: 16", "max_concurrency: 1")
    assert "openai/judge-celery" in text and "max_concurrency: 1" in text
    (projects / "spectra.yaml").write_text(text)
    return projects


def environment(
    root: Path, dagster_url: str, app_url: str, fake: FakeOpenAIServer
) -> dict[str, str]:
    home = root / "dagster_home"
    home.mkdir()
    instance = (REPO / "deploy" / "dagster.postgres.yaml").read_text()
    assert "default_limit: 2" in instance
    (home / "dagster.yaml").write_text(
        instance.replace("default_limit: 2", f"default_limit: {POOL_LIMIT}")
    )
    pg = make_url(dagster_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": pg.host or "127.0.0.1",
            "DAGSTER_PG_USER": pg.username or "postgres",
            "DAGSTER_PG_PASSWORD": pg.password or "",
            "DAGSTER_PG_DB": pg.database or "",
            "DAGSTER_CELERY_BROKER_URL": BROKER,
            "DAGSTER_CELERY_BACKEND_URL": BROKER,
            "SIGNALOPS_EXECUTOR": "celery",
            "SIGNALOPS_DATABASE_URL": app_url,
            "SIGNALOPS_PROJECTS_DIR": str(project_config(root)),
            "SIGNALOPS_EXPORT_DIR": str(root / "exports"),
            "SIGNALOPS_LLM_API_BASE": fake.base_url,
            "OPENAI_API_KEY": "sk-celery-test-only",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONUNBUFFERED": "1",
            # `dagster-celery worker start` runs `celery` from PATH: the venv's.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def run_config(root: Path, queue: str) -> Path:
    """deploy/dagster.celery.yaml as shipped, on a queue of this test's own."""
    config = yaml.safe_load((REPO / "deploy" / "dagster.celery.yaml").read_text())
    config["execution"]["config"]["config_source"]["task_default_queue"] = queue
    path = root / "celery_run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Runs:
    """`dagster job execute` processes (each a run coordinator submitting Celery tasks)."""

    def __init__(self, root: Path, env: dict[str, str], config: Path) -> None:
        self.root, self.env, self.config = root, env, config
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, job: str) -> subprocess.Popen[bytes]:
        log = self.root / f"run_{len(self.procs)}_{job}.log"
        cmd = [str(BIN / "dagster"), "job", "execute", "-m", "signalops_assets.definitions"]
        proc = start_group(
            [*cmd, "-j", job, "-c", str(self.config)], log=log, env=self.env, cwd=REPO
        )
        self.procs.append((job, proc, log))
        return proc

    def finish(self, proc: subprocess.Popen[bytes]) -> None:
        job, _, log = next(p for p in self.procs if p[1] is proc)
        wait_for(f"{job} to finish", lambda: proc.poll() is not None, RUN_TIMEOUT_S)
        output = log.read_text(errors="replace")
        assert proc.returncode == 0, f"{job} exited {proc.returncode}:\n{output[-4000:]}"

    def stop_all(self) -> None:
        for _, proc, _ in self.procs:
            stop_group(proc)


def start_workers(root: Path, env: dict[str, str], config: Path, queue: str) -> list[Any]:
    workers = []
    for name in WORKERS:
        log = root / f"worker_{name}.log"
        cmd = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
        cmd += ["-y", str(config), "-q", queue, "-n", name, *PRELOAD, "--", "--concurrency=1"]
        workers.append((start_group(cmd, log=log, env=env, cwd=root), log))
    return workers


def wait_for_workers(workers: list[Any]) -> None:
    for proc, log in workers:

        def ready(proc: Any = proc, log: Path = log) -> bool:
            if proc.poll() is not None:
                pytest.fail(f"worker exited {proc.returncode}: {log.read_text()[-3000:]}")
            return " ready." in log.read_text(errors="replace")

        wait_for(f"Celery worker {log.name}", ready, 120)


def sample_posts(root: Path, count: int) -> Path:
    lines = (REPO / "data" / "sample" / "posts.jsonl").read_text().splitlines()[:count]
    path = root / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def step_workers(instance: Any) -> dict[str, set[str]]:
    """Which Celery worker ran each step, by job, from the engine events the workers wrote."""
    from dagster import DagsterEventType, EventRecordsFilter

    records = instance.get_event_records(EventRecordsFilter(DagsterEventType.ENGINE_EVENT))
    by_job: dict[str, set[str]] = {}
    for record in records:
        entry = record.event_log_entry
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        metadata = getattr(data, "metadata", None) or {}
        if "Celery worker" in metadata:
            run = instance.get_run_by_id(entry.run_id)
            worker = str(metadata["Celery worker"].value).split("@", 1)[0]
            by_job.setdefault(run.job_name, set()).add(worker)
    return by_job


def test_judging_and_export_jobs_run_on_two_celery_workers(
    redis_db: Any, fake_llm: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance, DagsterRunStatus
    from sqlalchemy import func, select

    from signalops_assets.config import load_project
    from signalops_assets.db.migrate import ensure_schema
    from signalops_assets.db.models import Draft, Judgment, PreferencePair
    from signalops_assets.db.session import cached_engine, session_scope
    from signalops_assets.posts import ensure_project, import_posts
    from signalops_assets.preferences.review import edit

    queue = f"signalops-test-{uuid.uuid4().hex[:8]}"
    with fresh_databases("dagster", "app") as (dagster_url, app_url):
        env = environment(tmp_path, dagster_url, app_url, fake_llm)
        config = run_config(tmp_path, queue)
        # Workers start (and import the code location) while the app database is prepared.
        workers = start_workers(tmp_path, env, config, queue)
        runs = Runs(tmp_path, env, config)
        app = cached_engine(app_url)
        try:
            ensure_schema(app)
            with session_scope(app) as session:
                ensure_project(session, load_project("spectra"))
                report = import_posts(session, "spectra", sample_posts(tmp_path, POSTS))
            assert report.inserted == POSTS
            fake_llm.set_behavior(latency_ms=SLOW_MS)
            first = runs.start("judging_job")
            wait_for_workers(workers)
            wait_for("the first judging step", lambda: fake_llm.call_count() > 0, RUN_TIMEOUT_S)
            second = runs.start("judging_job")
            export = runs.start("dpo_export_job")
            runs.finish(export)
            fake_llm.clear_behavior()
            runs.finish(first)
            with session_scope(app) as session:
                draft = session.scalars(select(Draft).order_by(Draft.id)).first()
                assert draft is not None
                edit(session, draft.id, EDITED)
            # The edit's export runs while the second judging run may still be going.
            last_export = runs.start("dpo_export_job")
            runs.finish(second)
            runs.finish(last_export)
            assert fake_llm.max_in_flight <= POOL_LIMIT
            with session_scope(app) as session:
                judged = session.scalar(select(func.count()).select_from(Judgment))
                pairs = session.scalar(select(func.count()).select_from(PreferencePair))
            assert judged == POSTS
            # One call per post: two judging runs at once judged nothing twice.
            assert fake_llm.call_count("judge-celery") == judged
        finally:
            fake_llm.clear_behavior()
            runs.stop_all()
            for proc, _ in workers:
                stop_group(proc)
            cached_engine.cache_clear()
            app.dispose()

        exported = [
            line
            for part in ("train", "eval")
            if (path := tmp_path / "exports" / "spectra" / "dpo" / f"{part}.jsonl").exists()
            for line in path.read_text().splitlines()
        ]
        assert pairs == 1 and len(exported) == 1
        assert EDITED in exported[0]
        for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
            monkeypatch.setenv(name, env[name])
        with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            done = instance.get_runs()
            assert len(done) == 4
            assert {r.status for r in done} == {DagsterRunStatus.SUCCESS}
            by_job = step_workers(instance)
            assert instance.event_log_storage.get_concurrency_info("llm").slot_count == POOL_LIMIT
        # The export's steps ran while a judging step held one worker: both workers took steps.
        assert set().union(*by_job.values()) == set(WORKERS), by_job
        assert by_job.keys() == {"judging_job", "dpo_export_job"}
        print(f"\nsteps by worker: {by_job}")
