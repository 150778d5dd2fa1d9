"""draft_edits_sensor: a reviewer's edit or rejection re-runs the DPO export (dpo_export_job).

The sensor cursor is the last draft event id it has seen; each tick reads only the events after
it (preferences.events), so a restarted sensor resumes exactly where it stopped.
"""

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from signalops_assets.resources import DatabaseResource

INTERVAL_ENV = "SIGNALOPS_SENSOR_INTERVAL_S"


def sensor_interval_s() -> int:
    from signalops_assets.settings import settings

    return settings().sensor_interval_s


dpo_export_job = define_asset_job(
    "dpo_export_job",
    selection=AssetSelection.assets("preference_pairs", "dpo_jsonl", "argilla_dataset"),
    description="Collect new DPO pairs from review events, rewrite the DPO JSONL export and "
    "(when ARGILLA_API_URL/ARGILLA_API_KEY are set) push the pairs to Argilla for review.",
)


@sensor(
    job=dpo_export_job,
    minimum_interval_seconds=sensor_interval_s(),
    default_status=DefaultSensorStatus.STOPPED,
    description=f"Runs dpo_export_job when drafts are edited or rejected ({INTERVAL_ENV}).",
)
def draft_edits_sensor(
    context: SensorEvaluationContext, database: DatabaseResource
) -> SensorResult | SkipReason:
    from signalops_assets.preferences.events import scan_new_events

    after = int(context.cursor or 0)
    scan = scan_new_events(database.engine(), after)
    if not scan.scanned:
        return SkipReason(f"no draft events after id {after}")
    cursor = str(scan.last_id)
    if not scan.pair_events:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(scan.kinds.items()))
        return SensorResult(
            skip_reason=SkipReason(
                f"{scan.scanned} new draft events ({kinds}), none edited "
                f"or rejected; cursor now {cursor}"
            ),
            cursor=cursor,
        )
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"draft-events-{scan.last_id}",
                tags={"signalops/draft_events": f"{after + 1}-{scan.last_id}"},
            )
        ],
        cursor=cursor,
    )
