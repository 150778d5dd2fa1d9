"""`make run`'s demo, as a newcomer runs it: a subprocess on a fresh database and instance."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from signalops_assets.preferences.formats import validate_file
from signalops_assets_tests.fakes.argilla_server import FakeArgillaServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1300)]
REPO = Path(__file__).resolve().parents[1]


def run_demo(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "signalops_assets.demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done.stdout


def figure(output: str, pattern: str) -> int:
    """The number in the last line matching `pattern` (dpo_jsonl prints twice: the main run's,
    then the export job's after the sample reviews)."""
    found = re.findall(pattern, output)
    assert found, f"{pattern!r} not in:\n{output}"
    return int(found[-1])


def first_sensor_tick(home: Path, db_url: str) -> list[str]:
    """Run keys of draft_edits_sensor's first tick on the demo's instance (as `make dev` would
    run it after `make run`)."""
    from dagster import DagsterInstance, build_sensor_context

    from signalops_assets.preferences.sensors import draft_edits_sensor
    from signalops_assets.resources import DatabaseResource

    with DagsterInstance.from_config(str(home)) as instance:
        context = build_sensor_context(
            instance=instance, resources={"database": DatabaseResource(url=db_url)}
        )
        data = draft_edits_sensor.evaluate_tick(context)
    return [r.run_key or "" for r in data.run_requests or []]


def demo_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARGILLA_")},
        "SIGNALOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'signalops.db'}",
        "DAGSTER_HOME": str(home),
        "SIGNALOPS_EXPORT_DIR": str(tmp_path / "exports"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "SIGNALOPS_MODELS_DIR": str(tmp_path / "models"),
    }


def test_demo_runs_every_asset_and_is_idempotent(
    tmp_path: Path, fake_argilla: FakeArgillaServer
) -> None:
    """Two demo runs on one fresh database and instance (each run is minutes of work, so one
    pair of runs proves both paths): the first with Argilla configured, the second without.

    First run (#18 item 2): its argilla_dataset has no pairs yet (the reviews are replayed
    after it); it creates the dataset, and the export job then pushes the pairs into it.
    Second run: nothing new (idempotent), and without Argilla the asset says it skipped."""
    env = demo_env(tmp_path)
    home = Path(env["DAGSTER_HOME"])
    argilla = {"ARGILLA_API_URL": fake_argilla.url, "ARGILLA_API_KEY": fake_argilla.api_key}
    first = run_demo({**env, **argilla})
    assert figure(first, r"posts: (\d+) new") >= 300
    # The loop, offline: a judge trained from the sample's labels, gated, in an experiment.
    assert re.search(r"trained judge local/trained-judge/spectra-judge@ts\d+", first), first
    assert "offline gate" in first and "held-out labels" in first
    assert figure(first, r"judged_posts: posts_judged=(\d+)") >= 300
    assert figure(first, r"ab_results: experiments=(\d+)") == 1
    assert figure(first, r"experiment_analysis: experiments_analyzed=(\d+)") == 1
    assert "argilla_dataset: skipped" not in first
    pairs = figure(first, r"dpo_jsonl: pairs=(\d+)")
    assert pairs >= 10
    assert fake_argilla.record_count("spectra-dpo-review") == pairs
    assert fake_argilla.api_key not in first
    files = [tmp_path / "exports" / "spectra" / "dpo" / f"{s}.jsonl" for s in ("train", "eval")]
    reports = [validate_file(f, "trl") for f in files]
    assert all(r.ok for r in reports) and sum(r.lines for r in reports) == pairs
    assert first_sensor_tick(home, env["SIGNALOPS_DATABASE_URL"]) == []

    second = run_demo(env)
    assert "argilla_dataset: skipped" in second
    assert "trained judge" not in second  # one candidate, one experiment
    assert figure(second, r"posts: (\d+) new") == 0
    assert figure(second, r"judged_posts: posts_judged=(\d+)") == 0
    assert "sample reviews: applied none" in second
    assert figure(second, r"inserted=(\d+)") == 0
    assert figure(second, r"dpo_jsonl: pairs=(\d+)") == pairs
