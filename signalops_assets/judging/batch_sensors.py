"""llm_batch_sensor: polls the open LLM batches (llm.mode: batch) and ingests finished ones.

Thin: the poll is `judging.batch_poll.poll_batches`. What a tick ingested is reported as a
materialization of judged_posts (its judgments changed), so the asset page shows it beside the
runs that submitted the batches; a tick that ingested nothing says why in its skip reason.
"""

from dagster import (
    AssetMaterialization,
    DefaultSensorStatus,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from signalops_assets.preferences.sensors import sensor_interval_s
from signalops_assets.resources import DatabaseResource, LLMResource


@sensor(
    minimum_interval_seconds=sensor_interval_s(),
    # Running by default: with llm.mode: batch, results arrive only through this sensor; with
    # nothing open a tick is one query.
    default_status=DefaultSensorStatus.RUNNING,
    description="Polls open LLM batches (llm.mode: batch), ingests finished ones into "
    "judgments and retries failed items (llm.batch_retry).",
)
def llm_batch_sensor(
    context: SensorEvaluationContext, database: DatabaseResource, llm: LLMResource
) -> SensorResult | SkipReason:
    from signalops_assets.judging.batch_poll import poll_batches

    report = poll_batches(database.engine(), lambda project: llm.settings(project.llm))
    for project_id, reason in sorted(report.broken.items()):
        context.log.warning(f"{project_id}: batches not polled: {reason}")
    summary = report.describe()
    context.log.info(summary)
    if not report.changed:
        return SkipReason(summary)
    metadata = {
        "source": MetadataValue.text("llm_batch_sensor"),
        "ingested_judgments": MetadataValue.int(report.stored),
        "batches_ingested": MetadataValue.json(report.ingested),
        "failed_items": MetadataValue.int(report.failed_items),
        "retried_interactively": MetadataValue.int(report.retried),
        "resubmitted_batches": MetadataValue.json(report.resubmitted),
        "given_up": MetadataValue.int(report.given_up),
        "released": MetadataValue.int(report.released),
        "total_cost_usd": MetadataValue.float(report.cost_usd),
        "batch_statuses": MetadataValue.json(report.polled),
    }
    event = AssetMaterialization(asset_key="judged_posts", description=summary, metadata=metadata)
    return SensorResult(asset_events=[event])
