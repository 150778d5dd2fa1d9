"""The optional Argilla review step: push pairs, pull reviewers' verdicts back."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from signalops_assets.config import configured_project_ids
from signalops_assets.conventions import OWNERS, tags
from signalops_assets.preferences.argilla_review import ArgillaError, argilla_settings_from_env
from signalops_assets.reporting import markdown_table
from signalops_assets.resources import DatabaseResource


@asset(
    deps=["dpo_jsonl"],
    group_name="preferences",
    kinds={"argilla"},
    owners=OWNERS,
    tags=tags("preferences"),
)
def argilla_dataset(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """Push preference pairs to an Argilla review dataset and apply submitted verdicts
    (swap flips a pair, discard filters it). Skipped, successfully, when Argilla is not
    configured (ARGILLA_API_URL + ARGILLA_API_KEY)."""
    settings = argilla_settings_from_env()
    if settings is None:
        context.log.info("Argilla not configured (ARGILLA_API_URL, ARGILLA_API_KEY): skipped")
        return MaterializeResult(metadata={"skipped": "Argilla not configured"})
    from signalops_assets.preferences.argilla_sync import push_project, sync_project

    engine = database.engine()
    rows: list[list[object]] = []
    total_pushed = 0
    try:
        for project_id in configured_project_ids():
            pushed = push_project(engine, project_id, settings)
            total_pushed += pushed.pushed
            synced = sync_project(engine, project_id, settings)
            rows.append(
                [
                    project_id,
                    pushed.dataset,
                    pushed.pushed,
                    synced.verdicts_read,
                    synced.applied.get("swap", 0),
                    synced.applied.get("discard", 0),
                    synced.applied.get("keep", 0),
                    synced.stale,
                    synced.tied,
                ]
            )
    except ArgillaError as exc:
        # One readable line in the UI; nothing local was changed by a failed push.
        raise Failure(description=str(exc), allow_retries=True) from None
    headers = [
        "project",
        "dataset",
        "pushed",
        "verdicts",
        "swapped",
        "discarded",
        "kept",
        "stale",
        "tied",
    ]
    return MaterializeResult(
        metadata={
            "argilla_url": settings.api_url.split("@")[-1],
            "workspace": settings.workspace,
            "projects": MetadataValue.md(markdown_table(headers, rows)),
            "pairs_pushed": total_pushed,
        }
    )
