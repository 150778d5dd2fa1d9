"""Dagster run overhead on the embedded default: a no-op Materialize all and the 3-step
dpo_export_job through the real `dagster` CLI, per executor, in one run.

`multiprocess` (Dagster's default: a spawned interpreter per step, each re-importing the code
location) is the baseline; `in_process` is the embedded default (signalops_assets.jobs) and
`forkserver` the multiprocess alternative that preloads the code location. Target: the default
>= 3x faster than the baseline on both commands. Nothing is pending (the project has no posts),
so the time measured is Dagster's, not the work's. BENCH_DAGSTER_RUNS repeats each (median).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).parent / "dagster")
RUNS = int(os.environ.get("BENCH_DAGSTER_RUNS", "1"))
# BENCH_DAGSTER_EXECUTORS=multiprocess,in_process,forkserver adds the forkserver variant.
EXECUTORS = tuple(os.environ.get("BENCH_DAGSTER_EXECUTORS", "multiprocess,in_process").split(","))
ASSETS = (
    "judged_posts,ab_results,experiment_analysis,drafts,preference_pairs,dpo_jsonl,argilla_dataset"
)
COMMANDS = {
    "materialize all (no-op)": ["asset", "materialize", "--select", ASSETS],
    "dpo_export_job": ["job", "execute", "-j", "dpo_export_job"],
}
TARGET = 3.0


def environment(root: Path, executor: str) -> dict[str, str]:
    home = root / f"home-{executor}"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    projects = root / "projects"
    projects.mkdir(exist_ok=True)
    shutil.copy(ROOT / "data" / "projects" / "spectra.yaml", projects / "spectra.yaml")
    scrubbed = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALOPS_", "DAGSTER_"))}
    return {
        **scrubbed,
        "DAGSTER_HOME": str(home),
        "SIGNALOPS_EXECUTOR": executor,
        "SIGNALOPS_DATABASE_URL": f"sqlite:///{root / f'{executor}.db'}",
        "SIGNALOPS_PROJECTS_DIR": str(projects),
        "SIGNALOPS_EXPORT_DIR": str(root / f"exports-{executor}"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }


def timed(args: list[str], env: dict[str, str]) -> float:
    cmd = [DAGSTER, *args, "-m", "signalops_assets.definitions"]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(args)} ({env['SIGNALOPS_EXECUTOR']}) failed:\n{done.stderr[-3000:]}"
        )
    return elapsed


def main() -> int:
    figures: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dagster-") as tmp:
        for executor in EXECUTORS:
            env = environment(Path(tmp), executor)
            migrate = [str(Path(sys.executable).parent / "signalops"), "db", "upgrade"]
            subprocess.run(migrate, cwd=ROOT, env=env, check=True, capture_output=True)
            for label, args in COMMANDS.items():
                runs = [timed(args, env) for _ in range(RUNS)]
                figures[(label, executor)] = statistics.median(runs)
                print(f"{label:26} {executor:13} {figures[(label, executor)]:6.1f} s", flush=True)
    worst = float("inf")
    for label in COMMANDS:
        base = figures[(label, "multiprocess")]
        for executor in EXECUTORS[1:]:
            ratio = base / figures[(label, executor)]
            if executor == "in_process":
                worst = min(worst, ratio)
            print(f"{label}: {executor} {ratio:.1f}x faster than multiprocess (spawn)")
    verdict = "ok" if worst >= TARGET else "UNDER TARGET"
    print(
        f"embedded default (in_process): {worst:.1f}x at worst; target >= {TARGET:.0f}x: {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
