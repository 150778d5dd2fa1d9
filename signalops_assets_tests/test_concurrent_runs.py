"""Three runs at once on the embedded default instance (dagster.yaml, SQLite storage) all succeed:
no `database is locked` from Dagster's own run or event storage."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from signalops_assets_tests.conftest import REPO

DAGSTER = str(Path(sys.executable).with_name("dagster"))


@pytest.mark.slow
def test_three_runs_launched_at_once_on_the_default_instance(tmp_path: Path) -> None:
    from dagster import DagsterInstance, DagsterRunStatus

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    # Started together on a fresh instance: the storage is created while all three race for it.
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
