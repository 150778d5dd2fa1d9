"""bench/export.py end to end on 500 pairs: the counts add up (no timing asserts; the size
only needs both splits non-empty)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import export as bench_export
from signalops_assets.preferences.formats import EXPORT_FORMATS


def test_bench_export_counts_on_500_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = bench_export.run(500, runs=1, workdir=tmp_path)
    out = capsys.readouterr().out
    assert "500 exportable" in out and "filtered" in out
    assert figures["read-only"]["counts"] == {"rows": 500}  # no malformed draft at this size
    for fmt in EXPORT_FORMATS:
        ours, baseline = figures[fmt]["ours"], figures[fmt]["baseline"]
        assert sum(ours["counts"].values()) == 500
        # The same pairs; the split differs (ours is keyed on post content, the seed's on id).
        assert sum(baseline["counts"].values()) == 500
        assert ours["counts"]["train"] and ours["counts"]["eval"]
        for split in ("train", "eval"):
            text = (tmp_path / "ours" / fmt / f"{split}.jsonl").read_text(encoding="utf-8")
            assert len(text.splitlines()) == ours["counts"][split]
        assert f"format {fmt}: 500 pairs exported" in out


def test_generate_mixes_sources_filters_and_malformed_prompts(tmp_path: Path) -> None:
    from collections import Counter

    from sqlalchemy import func, select

    from signalops_assets.db.models import PreferencePair
    from signalops_assets.db.session import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    expected = bench_export.generate(engine, 6000)
    with engine.connect() as conn:
        rows = conn.execute(
            select(PreferencePair.source, PreferencePair.filtered, func.count()).group_by(
                PreferencePair.source, PreferencePair.filtered
            )
        ).all()
    by_source: Counter[str] = Counter()
    filtered = 0
    for source, is_filtered, count in rows:
        by_source[source] += count
        filtered += count if is_filtered else 0
    assert set(by_source) == {"edit", "reject", "manual"}
    assert filtered == expected.filtered > 0 and expected.skipped > 0
    assert sum(by_source.values()) == expected.exported + expected.filtered + expected.skipped
    assert expected.exported == 6000
    engine.dispose()
