"""dpo_jsonl's freshness, measured against the reviews: WARN when a review that can make a
pair has waited longer than SIGNALOPS_EXPORT_MAX_LAG_S (default 15 min) without an export."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from signalops_assets.preferences.assets import EXPORTED_THROUGH_KEY, dpo_jsonl
from signalops_assets.resources import DatabaseResource
from signalops_assets.settings import settings


@asset_check(asset=dpo_jsonl, blocking=False)
def dpo_jsonl_fresh(
    context: AssetCheckExecutionContext, database: DatabaseResource
) -> AssetCheckResult:
    """Stale means a review is waiting, not that time has passed: a quiet day is fresh."""
    from signalops_assets.preferences.freshness import export_lag

    event = context.instance.get_latest_materialization_event(dpo_jsonl.key)
    through = 0
    if event and event.asset_materialization:
        value = event.asset_materialization.metadata.get(EXPORTED_THROUGH_KEY)
        through = int(value.value) if value is not None else 0
    lag = export_lag(database.engine(), through)
    max_lag_s = settings().export_max_lag_s
    waited = lag.waited_s()
    stale = lag.waiting > 0 and waited > max_lag_s
    return AssetCheckResult(
        passed=not stale,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{lag.waiting} reviews waiting, the oldest for {waited / 60:.0f} min "
            f"(limit {max_lag_s / 60:.0f} min): is draft_edits_sensor running?"
            if stale
            else f"{lag.waiting} reviews waiting (limit {max_lag_s / 60:.0f} min)"
        ),
        metadata={
            "reviews_waiting": MetadataValue.int(lag.waiting),
            "oldest_waiting_s": MetadataValue.float(round(waited, 1)),
            "exported_through_event": MetadataValue.int(lag.exported_through),
            "last_review_event": MetadataValue.int(lag.last_event_id),
            "max_lag_s": MetadataValue.int(max_lag_s),
        },
    )
