"""`make bench`: every benchmark, each printing its figures and ratios from one run."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

BENCHES = [
    "judging.py",
    "startup.py",
    "dagster_runs.py",
    "tracing_overhead.py",
    "export.py",
    "edit_distance.py",
    "analysis.py",
    "fine_tune.py",
    "cost.py",
    "cost_batch.py",
]


def main() -> int:
    here = Path(__file__).resolve().parent
    for name in BENCHES:
        path = here / name
        if not path.exists():
            continue
        print(f"\n=== bench/{name} ===", flush=True)
        runpy.run_path(str(path), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
