"""bench/analysis.py end to end on a small SQLite experiment: it runs and the cross-check holds.

Timings are not asserted: this only guards the benchmark against rotting.
"""

from __future__ import annotations

import pytest

from bench import analysis


def test_bench_analysis_smoke_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_ANALYSIS_ROWS", "20000")
    (result,) = analysis.main(postgres=False)
    assert result.database == "sqlite" and result.rows == 20_000
    primary, canary = result.result.arms
    assert primary.judgments + canary.judgments == 20_000
    assert primary.errors > 0 and canary.errors > 0
    assert primary.labeled > 0 and canary.labeled > 0
    for arm in (primary, canary):
        loop = result.loop["arms"][arm.arm]
        assert (loop["judgments"], loop["labeled"]) == (arm.judgments, arm.labeled)
        assert loop["agreements"] == round((arm.agreement or 0.0) * arm.labeled)
    assert len(result.ours_s) == analysis.RUNS and result.baseline_s > 0
    out = capsys.readouterr().out
    assert "sqlite: cross-check ok" in out and "postgresql" not in out
