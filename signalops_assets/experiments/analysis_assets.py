"""Dagster wiring for the nightly experiment analysis: asset, SRM check, schedule."""

from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetSelection,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
)

from signalops_assets.resources import DatabaseResource
from signalops_assets.settings import settings


@asset(deps=["ab_results"], group_name="experiments", compute_kind="statistics")
def experiment_analysis(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """Peeking-safe analysis of every active experiment and those completed in the last 7 days;
    each result is appended to experiment_analyses."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.history import analyze_and_record, verdict_history
    from signalops_assets.experiments.render import as_markdown

    engine = database.engine()
    results = analyze_and_record(engine)
    metadata: dict[str, MetadataValue[Any]] = {
        "experiments_analyzed": MetadataValue.int(len(results))
    }
    srm = []
    for result in results:
        with session_scope(engine) as session:
            trend = verdict_history(session, result.experiment_id, limit=7)
        trend_md = "\n".join(f"- {at}: {verdict}" for at, verdict in trend)
        metadata[result.experiment_id] = MetadataValue.md(
            f"{as_markdown(result)}\n\nRecent verdicts:\n{trend_md}"
        )
        context.log.info(f"{result.experiment_id}: {result.verdict}: {result.recommendation}")
        if result.srm_all_flagged or result.srm_labeled_flagged:
            srm.append(result.experiment_id)
    metadata["srm_flagged"] = MetadataValue.json(srm)
    return MaterializeResult(metadata=metadata)


@asset_check(asset=experiment_analysis, blocking=False)
def experiment_srm_check(context: AssetCheckExecutionContext) -> AssetCheckResult:
    """Warns when any analysed experiment shows a sample ratio mismatch."""
    event = context.instance.get_latest_materialization_event(experiment_analysis.key)
    flagged: list[str] = []
    if event and event.asset_materialization:
        value = event.asset_materialization.metadata.get("srm_flagged")
        flagged = [str(v) for v in value.value] if value is not None else []
    return AssetCheckResult(
        passed=not flagged,
        severity=AssetCheckSeverity.WARN,
        description=("sample ratio mismatch in: " + ", ".join(flagged))
        if flagged
        else "no sample ratio mismatch",
        metadata={"flagged": MetadataValue.json(flagged)},
    )


experiment_analysis_job = define_asset_job(
    "experiment_analysis_job",
    selection=AssetSelection.assets(experiment_analysis),
    description="Analyse experiments (run nightly by the schedule).",
)

nightly_experiment_analysis = ScheduleDefinition(
    name="nightly_experiment_analysis",
    job=experiment_analysis_job,
    cron_schedule=settings().analysis_cron,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Nightly experiment analysis (SIGNALOPS_ANALYSIS_CRON, default 02:00 UTC).",
)
