"""Dagster assets for judging: thin wrappers over judging.service."""

from datetime import datetime
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from signalops_assets.config import load_configured_projects
from signalops_assets.reporting import markdown_table, progress_logger
from signalops_assets.resources import DatabaseResource, LLMResource

posts = AssetSpec(
    "posts",
    description="Imported social-media posts (`signalops posts import FILE --project P`).",
    group_name="judging",
)


@asset(deps=[posts], group_name="judging", pool="llm", compute_kind="litellm")
def judged_posts(
    context: AssetExecutionContext, database: DatabaseResource, llm: LLMResource
) -> MaterializeResult[None]:
    """Judge every post of the configured projects that the current judge has not judged."""
    return judge_configured_projects(context, database, llm)


def judge_configured_projects(
    context: AssetExecutionContext,
    database: DatabaseResource,
    llm: LLMResource,
    *,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> MaterializeResult[None]:
    """The body of judged_posts, shared with its daily-partitioned variant (judging.partitions),
    which passes the partition's [created_from, created_to) window."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.judging.factory import create_judge
    from signalops_assets.judging.service import judge_pending
    from signalops_assets.llm.tracing import get_tracer, trace_context
    from signalops_assets.posts import ensure_project

    engine = database.engine()
    rows, totals = [], {"judged": 0, "failures": 0, "cost_usd": 0.0}

    tracer = get_tracer()
    given_up = 0
    configured = load_configured_projects()
    for project in configured.loaded:
        project_id = project.project_id
        settings = llm.settings(project.llm)
        with session_scope(engine) as session:
            ensure_project(session, project)
            judge = create_judge(session, settings.gateway(), project)
        context.log.info(f"{project_id}: judging with {judge.description}")
        with trace_context(run_id=context.run_id, metadata={"project": project_id}):
            summary = judge_pending(
                engine,
                project_id,
                judge,
                max_concurrency=settings.max_concurrency,
                max_attempts=project.llm.max_attempts,
                created_from=created_from,
                created_to=created_to,
                on_progress=progress_logger(context, project_id, "posts"),
            )
        tracer.flush()
        if summary.given_up:
            context.log.warning(
                f"{project_id}: {summary.given_up} posts given up after "
                f"{project.llm.max_attempts} failed attempts "
                f"(`signalops judgments retry --project {project_id}` re-judges them)"
            )
        given_up += summary.given_up
        totals["judged"] += summary.posts_judged
        totals["failures"] += summary.failures
        totals["cost_usd"] += summary.total_cost_usd
        rows.append(
            [
                project_id,
                judge.description,
                summary.posts_judged,
                summary.labels.get("relevant", 0),
                summary.labels.get("irrelevant", 0),
                summary.labels.get("maybe", 0),
                summary.failures,
                summary.recovered,
                summary.given_up,
                round(sum(summary.latencies_ms) / max(len(summary.latencies_ms), 1), 1),
                round(summary.latency_ms(0.95), 1),
                round(summary.total_cost_usd, 6),
                ", ".join(f"{k}={v}" for k, v in sorted(summary.arms.items())) or "–",
            ]
        )
    headers = [
        "project",
        "judge",
        "judged",
        "relevant",
        "irrelevant",
        "maybe",
        "failures",
        "recovered",
        "given up",
        "mean ms",
        "p95 ms",
        "cost $",
        "arms",
    ]
    metadata: dict[str, Any] = {
        "posts_judged": totals["judged"],
        "failures": totals["failures"],
        "given_up": given_up,
        "total_cost_usd": float(totals["cost_usd"]),
        "by_project": MetadataValue.md(markdown_table(headers, rows)),
        "database": database.display_url(),
    }
    fail_for_broken_projects(configured.failure(), metadata)
    return MaterializeResult(metadata=metadata)


def fail_for_broken_projects(failure: str | None, metadata: dict[str, Any]) -> None:
    """The good projects' work is already committed; the step still fails, at the end, naming
    every project whose config did not load (so a broken file is seen, not skipped quietly)."""
    if failure is not None:
        raise Failure(description=failure, metadata={**metadata, "broken_projects": failure})
