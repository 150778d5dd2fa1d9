"""Dagster assets for judging: thin wrappers over judging.service."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetExecutionContext,
    AssetObservation,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
)

from signalops_assets.conventions import OWNERS, fail_for_broken_projects, llm_asset, tags
from signalops_assets.judging.versions import judge_version
from signalops_assets.metadata import table, table_metadata
from signalops_assets.project_loop import configured_projects
from signalops_assets.reporting import progress_logger
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets.vocab import LABELS

if TYPE_CHECKING:
    from signalops_assets.judging.totals import JudgeTotals

posts = AssetSpec(
    "posts",
    description="Imported social-media posts (`signalops posts import FILE --project P`); "
    "each judged_posts run records their row count as an observation.",
    group_name="judging",
    kinds={"sql"},
    owners=OWNERS,
    tags=tags("judging"),
)


@llm_asset("judging", deps=[posts], code_version=judge_version())
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
    from signalops_assets.db.counts import count_rows
    from signalops_assets.db.models import Judgment
    from signalops_assets.db.models import Post as PostRow
    from signalops_assets.db.session import session_scope
    from signalops_assets.judging.batches import BatchSubmission, submit_pending
    from signalops_assets.judging.project_run import judge_project, project_judge
    from signalops_assets.judging.service import (
        JudgeRunSummary,
        count_pending,
        pending_filter,
    )
    from signalops_assets.judging.totals import judge_totals
    from signalops_assets.llm.langfuse_links import langfuse_links

    engine = database.engine()
    run_rows, arm_rows, figures = [], [], {}
    totals = {"judged": 0, "stored": 0, "failures": 0, "cost_usd": 0.0}
    spend = dict.fromkeys(
        ("calls", "reused", "parse_failures", "prompt_tokens", "cached_tokens", "calls_in_workers"),
        0,
    )

    tracer = llm.tracer()
    given_up = submitted = 0
    batch_notes: list[str] = []
    loop = configured_projects(run_id=context.run_id)
    project_ids = loop.project_ids
    for project in loop:  # each project traced, the tracer flushed after it
        project_id = project.project_id
        settings = llm.settings(project.llm)
        judge = project_judge(engine, project, settings)
        context.log.info(f"{project_id}: judging with {judge.description}")
        batch: BatchSubmission | str | None = None  # None: interactive (llm.mode)
        if project.llm.mode == "batch":  # or why this judge runs interactively after all
            batch = submit_pending(
                engine, project, judge, settings, created_from=created_from, created_to=created_to
            )
        if isinstance(batch, str):
            context.log.warning(f"{project_id}: llm.mode is batch, but {batch}: interactive")
        if isinstance(batch, BatchSubmission):  # results arrive through llm_batch_sensor
            context.log.info(f"{project_id}: {batch.describe()}")
            batch_notes.append(f"{project_id}: {batch.describe()}")
            submitted += batch.posts
            summary = JudgeRunSummary(judge=f"{judge.description} (batch mode)")
        else:
            summary = judge_project(
                engine,
                project,
                settings,
                judge,
                created_from=created_from,
                created_to=created_to,
                on_progress=progress_logger(context, project_id, "posts"),
            )
        if summary.calls_in_workers:
            context.log.info(
                f"{project_id}: {summary.calls_in_workers} calls made by "
                f"{settings.processes} worker processes (llm.processes)"
            )
        if summary.given_up:
            context.log.warning(
                f"{project_id}: {summary.given_up} posts given up after "
                f"{project.llm.max_attempts} failed attempts "
                f"(`signalops judgments retry --project {project_id}` re-judges them)"
            )
        given_up += summary.given_up
        totals["judged"] += summary.posts_judged
        totals["stored"] += summary.judgments_stored
        totals["failures"] += summary.failures
        totals["cost_usd"] += summary.total_cost_usd
        for key in spend:
            spend[key] += getattr(summary, key)
        run_rows.append(
            [
                project_id,
                summary.judge,  # the judge's description, "(batch mode)" when it submitted
                summary.posts_judged,
                summary.judgments_stored,
                summary.failures,
                summary.recovered,
                summary.given_up,
                ", ".join(f"{k}={v}" for k, v in sorted(summary.arms.items())) or None,
            ]
        )
        with session_scope(engine) as session:
            current = judge_totals(session, project_id, judge.done_key)
            # Pending by prompt version too: after a prompt change every post is pending again.
            spec = pending_filter(project_id, judge, max_attempts=project.llm.max_attempts)
            current.pending = count_pending(session, spec)
        figures.update(project_figures(project_id, current))
        for arm in current.arms.values():
            arm_rows.append(
                [
                    project_id,
                    arm.arm,
                    arm.judgments,
                    *(arm.labels.get(label, 0) for label in LABELS),
                    arm.errors,
                    round(arm.error_rate, 4),
                    None if arm.mean_latency_ms is None else round(arm.mean_latency_ms, 1),
                    round(arm.cost_usd, 6),
                ]
            )
    # `posts` is loaded outside Dagster (signalops posts import); each run records what it saw.
    context.log_event(
        AssetObservation(
            asset_key=posts.key,
            metadata={
                **table_metadata(PostRow, count_rows(engine, PostRow, project_ids)),
                **{k: v for k, v in figures.items() if k.endswith("/posts")},
            },
        )
    )
    stored = totals["stored"]
    metadata: dict[str, Any] = {
        # This run: 0 when nothing was pending; the current picture follows below.
        "posts_judged": totals["judged"],
        "judgments_stored": stored,
        "failures": totals["failures"],
        "given_up": given_up,
        "failure_rate": float(totals["failures"] / stored) if stored else 0.0,
        "total_cost_usd": float(totals["cost_usd"]),
        **cost_metadata(spend),
        # Of the provider calls, those made by worker processes (llm.processes > 1, big runs).
        "calls_in_worker_processes": spend["calls_in_workers"],
        # Batch mode (llm.mode: batch): what went to the provider's batch API this run.
        "posts_submitted_to_batches": submitted,
        "batches": "; ".join(batch_notes) or "none submitted (interactive mode)",
        "this_run": table(RUN_COLUMNS, run_rows),
        # The current judge's totals, one row (and one set of plotted keys) per arm.
        "by_arm": table(ARM_COLUMNS, arm_rows),
        **figures,
        **table_metadata(Judgment, count_rows(engine, Judgment, project_ids)),
        "database": database.display_url(),
        **{k: MetadataValue.url(v) for k, v in langfuse_links(tracer, context.run_id).items()},
    }
    fail_for_broken_projects(loop.failure(), metadata)
    return MaterializeResult(metadata=metadata)


RUN_COLUMNS = [
    ("project", "string"),
    ("judge", "string"),
    ("posts_judged", "int"),
    ("judgments", "int"),
    ("failures", "int"),
    ("recovered", "int"),
    ("given_up", "int"),
    ("arms", "string"),
]
ARM_COLUMNS = [
    ("project", "string"),
    ("arm", "string"),
    ("judgments", "int"),
    *((label, "int") for label in LABELS),
    ("errors", "int"),
    ("error_rate", "float"),
    ("mean_latency_ms", "float"),
    ("cost_usd", "float"),
]


def cost_metadata(spend: dict[str, int]) -> dict[str, Any]:
    """This run's cost levers: provider calls against judgments reused (no call), answers that
    did not parse per 1,000 calls, and the share of prompt tokens read from the cache."""
    calls = spend["calls"]
    return {
        "provider_calls": spend["calls"],
        "reused_judgments": spend["reused"],
        "parse_failures": spend["parse_failures"],
        "parse_failures_per_1k_calls": float(1000 * spend["parse_failures"] / calls)
        if calls
        else 0.0,
        "prompt_tokens": spend["prompt_tokens"],
        "cached_prompt_tokens": spend["cached_tokens"],
        "cached_token_share": float(spend["cached_tokens"] / spend["prompt_tokens"])
        if spend["prompt_tokens"]
        else 0.0,
    }


def project_figures(project_id: str, current: "JudgeTotals") -> dict[str, Any]:
    """Numeric metadata under stable keys (`<project>/<arm>/<figure>`), so the asset page plots
    each one across materializations."""
    out: dict[str, Any] = {
        f"{project_id}/posts": MetadataValue.int(current.posts),
        f"{project_id}/pending": MetadataValue.int(current.pending),
    }
    for arm in current.arms.values():
        prefix = f"{project_id}/{arm.arm}"
        out[f"{prefix}/judgments"] = MetadataValue.int(arm.judgments)
        for label in LABELS:
            out[f"{prefix}/{label}"] = MetadataValue.int(arm.labels.get(label, 0))
        out[f"{prefix}/errors"] = MetadataValue.int(arm.errors)
        out[f"{prefix}/error_rate"] = MetadataValue.float(arm.error_rate)
        if arm.mean_latency_ms is not None:
            out[f"{prefix}/mean_latency_ms"] = MetadataValue.float(arm.mean_latency_ms)
    return out
