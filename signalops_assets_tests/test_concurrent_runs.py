"""Three runs at once on the embedded default instance (dagster.yaml, SQLite storage) all succeed:
no `database is locked` from Dagster's own run or event storage.

The instance is prepared as `make install` prepares it: dagster.yaml copied and the storage
created once (`dagster instance migrate`). Without that step, three processes creating the
storage at the same instant race inside Dagster (a UNIQUE failure on its alembic stamp and
`database is locked`), which this test reproduced before the Makefile did it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from signalops_assets_tests.conftest import REPO

DAGSTER = str(Path(sys.executable).with_name("dagster"))


@pytest.mark.slow
def test_three_runs_launched_at_once_on_the_default_instance(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    """sqlite_engine: the app database exists and is migrated (`signalops db upgrade`)."""
    from dagster import DagsterInstance, DagsterRunStatus

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    makefile = (REPO / "Makefile").read_text()
    assert "dagster instance migrate" in makefile  # what `make install` runs
    subprocess.run([DAGSTER, "instance", "migrate"], env=env, check=True, capture_output=True)
    args = [DAGSTER, "job", "execute", "-m", "signalops_assets.definitions", "-j", "dpo_export_job"]
    procs = [
        subprocess.Popen(
            args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=900)[0] for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert "database is locked" not in output
        assert proc.returncode == 0, output[-2000:]
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 3
        assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}
