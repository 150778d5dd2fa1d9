"""draft_edits_sensor: a reviewer's edit or rejection re-runs the DPO export (dpo_export_job).

The sensor never trusts that a requested run did its work. Each tick compares the draft events
with the collector's cursor (collector_cursors) and with the event the last dpo_jsonl export
covered, so a run that failed, was killed or cancelled leaves its events pending and the next
tick requests them again (a new run key per attempt). Its own cursor only remembers how far it
has seen events that can make no pair, so a long run of approvals is never re-read.
"""

import json
from dataclasses import asdict, dataclass

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from signalops_assets.preferences.assets import EXPORTED_THROUGH_KEY
from signalops_assets.resources import DatabaseResource

INTERVAL_ENV = "SIGNALOPS_SENSOR_INTERVAL_S"
# A run stuck past this (its worker killed) is failed by run monitoring, then re-requested.
MAX_RUNTIME_S = 1800
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def sensor_interval_s() -> int:
    from signalops_assets.settings import settings

    return settings().sensor_interval_s


dpo_export_job = define_asset_job(
    "dpo_export_job",
    selection=AssetSelection.assets("preference_pairs", "dpo_jsonl", "argilla_dataset"),
    description="Collect new DPO pairs from review events, rewrite the DPO JSONL export and "
    "(when ARGILLA_API_URL/ARGILLA_API_KEY are set) push the pairs to Argilla for review.",
)


@dataclass(frozen=True)
class SensorCursor:
    seen: int = 0  # events up to here hold no pair event the export still owes
    requested: str = ""  # the pending range last requested ("start-last")
    attempt: int = 0

    @classmethod
    def parse(cls, raw: str | None) -> "SensorCursor":
        if not raw:
            return cls()
        if raw.isdigit():  # the cursor of earlier releases: the last event id seen
            return cls(seen=int(raw))
        return cls(**json.loads(raw))

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def exported_through(context: SensorEvaluationContext) -> int:
    event = context.instance.get_latest_materialization_event(AssetKey("dpo_jsonl"))
    if event is None or event.asset_materialization is None:
        return 0
    value = event.asset_materialization.metadata.get(EXPORTED_THROUGH_KEY)
    return int(value.value) if value is not None and isinstance(value.value, int) else 0


@sensor(
    job=dpo_export_job,
    minimum_interval_seconds=sensor_interval_s(),
    default_status=DefaultSensorStatus.STOPPED,
    description=f"Runs dpo_export_job when drafts are edited or rejected ({INTERVAL_ENV}).",
)
def draft_edits_sensor(
    context: SensorEvaluationContext, database: DatabaseResource
) -> SensorResult | SkipReason:
    from signalops_assets.preferences.events import scan_pending

    state = SensorCursor.parse(context.cursor)
    pending = scan_pending(database.engine(), exported_through(context), state.seen)
    scan = pending.scan
    if not scan.pair_events:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(scan.kinds.items()))
        moved = SensorCursor(seen=pending.first_unseen)
        reason = (
            f"{scan.scanned} new draft events ({kinds}), none edited or rejected"
            if scan.scanned
            else f"no draft events after id {pending.start}"
        )
        return SensorResult(skip_reason=SkipReason(reason), cursor=moved.dump())
    running = context.instance.get_runs(
        RunsFilter(job_name=dpo_export_job.name, statuses=IN_FLIGHT), limit=1
    )
    if running:
        return SkipReason(
            f"{scan.pair_events} edited/rejected events pending; waiting for run "
            f"{running[0].run_id} of {dpo_export_job.name}"
        )
    span = f"{pending.start + 1}-{scan.last_id}"
    # The same range requested again means the last run did not collect and export it.
    attempt = state.attempt + 1 if state.requested == span else 1
    run_key = f"draft-events-{span}" + (f"-retry{attempt - 1}" if attempt > 1 else "")
    if attempt > 1:
        context.log.warning(f"events {span} still pending after a run; requesting them again")
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=run_key,
                tags={"signalops/draft_events": span, "dagster/max_runtime": str(MAX_RUNTIME_S)},
            )
        ],
        cursor=SensorCursor(pending.first_unseen, span, attempt).dump(),
    )
