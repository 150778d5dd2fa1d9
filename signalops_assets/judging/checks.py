"""judged_posts_failure_rate: WARN when too many of a run's judgments failed (provider errors,
malformed answers). Failed judgments are stored, so the asset itself succeeds; this check is
what makes a bad run visible on the asset page."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

THRESHOLD_ENV = "SIGNALOPS_MAX_FAILURE_RATE"
JUDGED_POSTS = AssetKey("judged_posts")


def failure_threshold() -> float:
    from signalops_assets.settings import settings

    return settings().max_failure_rate  # SIGNALOPS_MAX_FAILURE_RATE, validated there


@asset_check(asset=JUDGED_POSTS, description=f"WARN above {THRESHOLD_ENV} (default 5%).")
def judged_posts_failure_rate(context: AssetCheckExecutionContext) -> AssetCheckResult:
    threshold = failure_threshold()
    event = context.instance.get_latest_materialization_event(JUDGED_POSTS)
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}

    def number(key: str) -> float:
        value = meta.get(key)
        return (
            float(value.value)
            if value is not None and isinstance(value.value, int | float)
            else 0.0
        )

    stored, failures = int(number("judgments_stored")), int(number("failures"))
    rate = failures / stored if stored else 0.0
    return AssetCheckResult(
        passed=rate <= threshold,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{failures} of {stored} judgments failed ({rate:.1%}; threshold {threshold:.1%})"
            if stored
            else "no judgments in the latest run"
        ),
        metadata={
            "failure_rate": MetadataValue.float(rate),
            "threshold": MetadataValue.float(threshold),
            "failures": MetadataValue.int(failures),
            "judgments": MetadataValue.int(stored),
        },
    )
