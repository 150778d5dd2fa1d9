"""bench/cost.py end to end on 40 posts: who calls what, and what it costs (no timing asserts)."""

from __future__ import annotations

from bench import cost as bench_cost


def test_bench_cost_calls_each_model_once_per_post_and_pays_less() -> None:
    figures = bench_cost.run(40)
    base, ours = figures["baseline"], figures["ours"]
    # The seed re-judges the backlog with both models at experiment start; ours calls the
    # canary only, the primary arm reusing the backlog's judgments.
    assert base.calls == {"backlog": 40, "experiment": 80, "day": 8}
    assert ours.calls == {"backlog": 40, "experiment": 40, "day": 8}
    assert figures["per_post"] == 1.0
    assert all(0 < ours.dollars[s] < base.dollars[s] for s in bench_cost.STEPS)
    assert sum(ours.dollars.values()) <= 0.4 * sum(base.dollars.values())
