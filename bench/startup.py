"""Start-up: importing the code location and `signalops --help`, each in a fresh process.

Targets: `import signalops_assets.definitions` <= 2 s (what Dagster's code server and every
`dagster` CLI call pay), `signalops --help` <= 1 s. Each is run RUNS times; the median counts.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "3"))


def timed(cmd: list[str]) -> float:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def report(label: str, cmd: list[str], target_s: float | None, baseline_s: float = 0.0) -> float:
    times = [timed(cmd) for _ in range(RUNS)]
    median = statistics.median(times)
    runs = ", ".join(f"{t:.2f}" for t in times)
    line = f"{label}: {median:5.2f} s median of {RUNS} ({runs})"
    if baseline_s:
        line += f"; {median / baseline_s:.2f}x bare `import dagster`"
    if target_s is not None:
        verdict = "ok" if median <= target_s else "OVER TARGET"
        line += f"; target <= {target_s:.0f} s: {verdict}"
    print(line)
    return median


def main() -> None:
    python = sys.executable
    cli = Path(python).parent / "signalops"
    # Baseline, same run: what Dagster itself costs to import (nothing of ours).
    dagster_s = report("import dagster (baseline)", [python, "-c", "import dagster"], None)
    report(
        "import signalops_assets.definitions",
        [python, "-c", "import signalops_assets.definitions"],
        2.0,
        dagster_s,
    )
    if cli.exists():
        report("signalops --help", [str(cli), "--help"], 1.0)
    else:
        report("signalops --help", [python, "-m", "signalops_assets.cli.main", "--help"], 1.0)


if __name__ == "__main__":
    main()
