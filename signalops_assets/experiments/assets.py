"""Dagster asset `ab_results`: a thin report over experiments.summary."""

from typing import Any

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from signalops_assets.resources import DatabaseResource


# By key, so the daily-partitioned judged_posts (same key) is upstream too.
@asset(deps=[AssetKey("judged_posts")], group_name="experiments", compute_kind="sql")
def ab_results(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """Per experiment and arm (active, paused, or completed in the last 7 days): judgments,
    label mix, errors, mean/p95 latency and cost, aggregated from the ab_results table."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.history import due_experiment_ids
    from signalops_assets.experiments.service import require_experiment
    from signalops_assets.experiments.summary import experiment_arm_summary, summary_markdown

    engine = database.engine()
    metadata: dict[str, Any] = {}
    totals = {"judgments": 0, "errors": 0}
    cost = 0.0
    with session_scope(engine) as session:
        experiment_ids = due_experiment_ids(session)
        for experiment_id in experiment_ids:
            experiment = require_experiment(session, experiment_id)
            arms = experiment_arm_summary(session, experiment_id)
            metadata[experiment_id] = MetadataValue.md(summary_markdown(experiment, arms))
            for arm in arms.values():
                totals["judgments"] += arm.judgments
                totals["errors"] += arm.errors
                cost += arm.cost_usd
            counts = ", ".join(f"{a.arm}={a.judgments}" for a in arms.values()) or "none"
            context.log.info(f"{experiment_id} ({experiment.status}): {counts}")
    metadata.update(
        {
            "experiments": MetadataValue.int(len(experiment_ids)),
            "judgments": MetadataValue.int(totals["judgments"]),
            "errors": MetadataValue.int(totals["errors"]),
            "total_cost_usd": MetadataValue.float(cost),
            "database": database.display_url(),
        }
    )
    return MaterializeResult(metadata=metadata)
