"""Dagster wiring for the nightly experiment analysis: asset, SRM check, schedule."""

from datetime import timedelta
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetSelection,
    DefaultScheduleStatus,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    asset,
    asset_check,
    define_asset_job,
    sensor,
)

from signalops_assets.conventions import OWNERS, tags
from signalops_assets.resources import DatabaseResource
from signalops_assets.settings import settings


@asset(
    deps=["ab_results"],
    group_name="experiments",
    kinds={"scipy"},
    owners=OWNERS,
    tags=tags("experiments"),
    # The 02:00 UTC schedule must have produced it by 04:00 UTC.
    freshness_policy=FreshnessPolicy.cron(
        deadline_cron="0 4 * * *", lower_bound_delta=timedelta(hours=3)
    ),
)
def experiment_analysis(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """Peeking-safe analysis of every active experiment and those completed in the last 7 days;
    each result is appended to experiment_analyses."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.history import analyze_and_record, verdict_history
    from signalops_assets.experiments.report import as_markdown, headline_figures
    from signalops_assets.llm.langfuse_links import langfuse_links
    from signalops_assets.llm.tracing import get_tracer

    engine = database.engine()
    results = analyze_and_record(engine)
    metadata: dict[str, MetadataValue[Any]] = {
        "experiments_analyzed": MetadataValue.int(len(results))
    }
    srm: list[str] = []
    srm_p: dict[str, float] = {}
    for result in results:
        with session_scope(engine) as session:
            trend = verdict_history(session, result.experiment_id, limit=7)
        trend_md = "\n".join(f"- {at}: {verdict}" for at, verdict in trend)
        metadata[result.experiment_id] = MetadataValue.md(
            f"{as_markdown(result)}\n\nRecent verdicts:\n{trend_md}"
        )
        # Numeric figures under stable keys, so the UI plots them night after night.
        for key, value in headline_figures(result).items():
            name = f"{result.experiment_id}/{key}"
            if isinstance(value, str):
                metadata[name] = MetadataValue.text(value)
            elif isinstance(value, int):
                metadata[name] = MetadataValue.int(value)
            elif value is not None:
                metadata[name] = MetadataValue.float(float(value))
        context.log.info(f"{result.experiment_id}: {result.verdict}: {result.recommendation}")
        if result.srm.get("assignment_flagged"):
            srm.append(result.experiment_id)
        srm_p[result.experiment_id] = min(
            float(result.srm.get(part, {}).get("p_value", 1.0)) for part in ("all", "labeled")
        )
    metadata["srm_flagged"] = MetadataValue.json(srm)
    metadata["srm_p_values"] = MetadataValue.json(srm_p)
    links = langfuse_links(get_tracer(), experiments=[r.experiment_id for r in results])
    metadata.update({key: MetadataValue.url(url) for key, url in links.items()})
    return MaterializeResult(metadata=metadata)


@asset_check(asset=experiment_analysis, blocking=False)
def experiment_srm_check(context: AssetCheckExecutionContext) -> AssetCheckResult:
    """Warns when any analysed experiment shows a sample ratio mismatch in its assignment
    (sequential test: valid however many nights it is read)."""
    event = context.instance.get_latest_materialization_event(experiment_analysis.key)
    flagged: list[str] = []
    p_values: dict[str, float] = {}
    if event and event.asset_materialization:
        value = event.asset_materialization.metadata.get("srm_flagged")
        flagged = [str(v) for v in value.value] if value is not None else []
        p_value_map = event.asset_materialization.metadata.get("srm_p_values")
        if p_value_map is not None and isinstance(p_value_map.value, dict):
            p_values = {str(k): float(v) for k, v in p_value_map.value.items()}
    numeric: dict[str, MetadataValue[Any]] = {
        f"{experiment_id}/srm_p_value": MetadataValue.float(p)
        for experiment_id, p in p_values.items()
    }
    if p_values:
        numeric["min_srm_p_value"] = MetadataValue.float(min(p_values.values()))
    return AssetCheckResult(
        passed=not flagged,
        severity=AssetCheckSeverity.WARN,
        description=("sample ratio mismatch in: " + ", ".join(flagged))
        if flagged
        else "no sample ratio mismatch",
        metadata={"flagged": MetadataValue.json(flagged), **numeric},
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


@asset(
    deps=[experiment_analysis],
    group_name="experiments",
    kinds={"python"},
    owners=OWNERS,
    tags=tags("experiments"),
)
def judge_promotion(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """Experiments whose verdict is promote_canary: promoted when `experiments.auto_promote`
    is true (at most once), otherwise reported here as a recommendation."""
    from signalops_assets.experiments.promotion import apply_promotions

    outcomes = apply_promotions(database.engine())
    metadata: dict[str, MetadataValue[Any]] = {
        "promoted": MetadataValue.int(sum(o.promoted for o in outcomes)),
        "recommended": MetadataValue.int(sum(not o.promoted for o in outcomes)),
    }
    for outcome in outcomes:
        metadata[outcome.experiment_id] = MetadataValue.text(outcome.detail)
        context.log.info(f"{outcome.experiment_id}: {outcome.detail}")
    return MaterializeResult(metadata=metadata)


promote_judge_job = define_asset_job(
    "promote_judge_job",
    selection=AssetSelection.assets(judge_promotion),
    description="Promote (auto_promote) or recommend canaries whose verdict is promote_canary.",
)


@sensor(job=promote_judge_job, minimum_interval_seconds=60)
def promotion_sensor(context: SensorEvaluationContext, database: DatabaseResource) -> SensorResult:
    """After each analysis: one promote_judge_job run per (experiment, look) that reached
    promote_canary; the run key makes a re-tick request nothing twice."""
    from signalops_assets.experiments.promotion import promotion_candidates

    requests = [
        RunRequest(run_key=f"{experiment_id}:{look}", tags={"experiment_id": experiment_id})
        for experiment_id, _, _, look in promotion_candidates(database.engine())
    ]
    return SensorResult(run_requests=requests)
