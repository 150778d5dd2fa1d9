"""The optional Argilla review step: push pairs, pull reviewers' decisions back."""

from typing import Any

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from signalops_assets.argilla.client import ArgillaError
from signalops_assets.conventions import OWNERS, fail_for_broken_projects, tags
from signalops_assets.project_loop import configured_projects
from signalops_assets.redaction import display_url
from signalops_assets.reporting import markdown_table
from signalops_assets.resources import ArgillaResource, DatabaseResource
from signalops_assets.vocab import ReviewDecision


@asset(
    deps=["dpo_jsonl"],
    group_name="preferences",
    kinds={"argilla"},
    owners=OWNERS,
    tags=tags("preferences"),
)
def argilla_dataset(
    context: AssetExecutionContext, database: DatabaseResource, argilla: ArgillaResource
) -> MaterializeResult[None]:
    """Push preference pairs to an Argilla review dataset and apply submitted decisions
    (swap flips a pair, discard filters it); apply reviewers' relevance labels and offer the
    next unlabelled judged posts for labelling. Skipped, successfully, when Argilla is not
    configured (ARGILLA_API_URL + ARGILLA_API_KEY)."""
    settings = argilla.settings()
    if settings is None:
        context.log.info("Argilla not configured (ARGILLA_API_URL, ARGILLA_API_KEY): skipped")
        return MaterializeResult(metadata={"skipped": "Argilla not configured"})
    from signalops_assets.argilla.labels import push_for_labelling, sync_labels
    from signalops_assets.argilla.sync import push_project, sync_project

    engine = database.engine()
    rows: list[list[object]] = []
    total_pushed = total_labels = 0
    loop = configured_projects(run_id=context.run_id)
    try:
        for project in loop:
            project_id, review = project.project_id, project.review
            pushed = push_project(engine, project_id, settings, min_submitted=review.min_submitted)
            total_pushed += pushed.pushed
            synced = sync_project(engine, project_id, settings, min_submitted=review.min_submitted)
            # Relevance labelling: labels first (they free posts from the queue), then new posts.
            labelled = sync_labels(engine, project_id, settings, min_submitted=review.min_submitted)
            offered, _ = push_for_labelling(
                engine,
                project_id,
                settings,
                min_submitted=review.min_submitted,
                limit=review.labelling_batch,
            )
            total_labels += labelled.applied
            rows.append(
                [
                    project_id,
                    pushed.dataset,
                    pushed.pushed,
                    synced.decisions_read,
                    synced.applied.get(ReviewDecision.SWAP, 0),
                    synced.applied.get(ReviewDecision.DISCARD, 0),
                    synced.applied.get(ReviewDecision.KEEP, 0),
                    synced.stale,
                    synced.tied,
                    "no dataset yet" if synced.dataset_missing else "read",
                    offered,
                    labelled.applied,
                    labelled.pending + labelled.tied,
                ]
            )
    except ArgillaError as exc:
        # One readable line in the UI; nothing local was changed by a failed push.
        raise Failure(description=str(exc), allow_retries=True) from None
    headers = [
        "project",
        "dataset",
        "pushed",
        "decisions",
        "swapped",
        "discarded",
        "kept",
        "stale",
        "tied",
        "sync",
        "posts offered for labelling",
        "labels applied",
        "labels pending or tied",
    ]
    metadata: dict[str, Any] = {
        "argilla_url": display_url(settings.api_url),
        "workspace": settings.workspace,
        "projects": MetadataValue.md(markdown_table(headers, rows)),
        "pairs_pushed": total_pushed,
        "human_labels_applied": total_labels,
    }
    fail_for_broken_projects(loop.failure(), metadata)
    return MaterializeResult(metadata=metadata)
