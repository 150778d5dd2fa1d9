"""Dagster asset `ab_results`: a thin report over the per-arm aggregation in experiments.queries."""

from typing import Any

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from signalops_assets.conventions import OWNERS, tags
from signalops_assets.resources import DatabaseResource


# By key, so the daily-partitioned judged_posts (same key) is upstream too.
@asset(
    deps=[AssetKey("judged_posts")],
    group_name="experiments",
    kinds={"sql"},
    owners=OWNERS,
    tags=tags("experiments"),
)
def ab_results(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """Per experiment and arm (active, paused, or completed in the last 7 days): judgments,
    label mix, errors, fallback answers, p95 latency and cost (the same per-arm aggregation
    over judgments that the analysis uses)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.history import due_experiment_ids
    from signalops_assets.experiments.queries import Scope, arm_stats
    from signalops_assets.experiments.report import arms_markdown
    from signalops_assets.experiments.service import require_experiment

    engine = database.engine()
    metadata: dict[str, Any] = {}
    totals = {"judgments": 0, "errors": 0}
    cost = 0.0
    with session_scope(engine) as session:
        experiment_ids = due_experiment_ids(session)
        for experiment_id in experiment_ids:
            experiment = require_experiment(session, experiment_id)
            # Operational figures: every judgment, training posts included.
            arms = arm_stats(session, experiment, Scope(experiment_id, ()))
            metadata[experiment_id] = MetadataValue.md(arms_markdown(experiment, arms))
            for arm in arms.values():
                # Stable numeric keys, so the UI plots each arm across materializations.
                prefix = f"{experiment_id}/{arm.arm}"
                metadata[f"{prefix}/judgments"] = MetadataValue.int(arm.judgments)
                metadata[f"{prefix}/errors"] = MetadataValue.int(arm.errors)
                metadata[f"{prefix}/fallbacks"] = MetadataValue.int(arm.fallbacks)
                totals["judgments"] += arm.judgments
                totals["errors"] += arm.errors
                cost += arm.cost_usd
            counts = ", ".join(f"{a.arm}={a.judgments}" for a in arms.values()) or "none"
            context.log.info(f"{experiment_id} ({experiment.status}): {counts}")
    headline: dict[str, Any] = {
        "experiments": MetadataValue.int(len(experiment_ids)),
        "judgments": MetadataValue.int(totals["judgments"]),
        "errors": MetadataValue.int(totals["errors"]),
        "total_cost_usd": MetadataValue.float(cost),
        "database": database.display_url(),
    }
    return MaterializeResult(metadata={**headline, **metadata})
