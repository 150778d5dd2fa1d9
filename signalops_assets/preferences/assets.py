"""Dagster assets for the review flow: drafts → preference_pairs → dpo_jsonl (+ its check)."""

from typing import Any, Literal

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from pydantic import Field

from signalops_assets.conventions import OWNERS, fail_for_broken_projects, llm_asset, tags
from signalops_assets.judging.versions import draft_version
from signalops_assets.metadata import table, table_metadata
from signalops_assets.preferences.formats import validate_file
from signalops_assets.project_loop import configured_projects
from signalops_assets.reporting import progress_logger
from signalops_assets.resources import DatabaseResource, LLMResource

# dpo_jsonl's record of the collector cursor it exported through (read by draft_edits_sensor).
EXPORTED_THROUGH_KEY = "collected_through_event"


@llm_asset("preferences", deps=["judged_posts"], code_version=draft_version())
def drafts(
    context: AssetExecutionContext, database: DatabaseResource, llm: LLMResource
) -> MaterializeResult[None]:
    """Draft a reply (project persona, draft_model) to every relevant post without one; the
    exact prompt is stored with the draft. Failed calls are reported, not stored."""
    from signalops_assets.preferences.drafts import LLMDraftGenerator, draft_pending

    engine, rows, drafted, failures = database.engine(), [], 0, 0
    loop = configured_projects(run_id=context.run_id)
    for project in loop:  # each project traced, the tracer flushed after it
        project_id = project.project_id
        settings = llm.settings(project.llm)
        generator = LLMDraftGenerator(settings.gateway(), project)
        summary = draft_pending(
            engine,
            project_id,
            generator,
            settings.max_concurrency,
            on_progress=progress_logger(context, project_id, "drafts"),
        )
        for error in summary.errors:
            context.log.warning(f"{project_id}: {error}")
        drafted, failures = drafted + summary.drafted, failures + summary.failures
        rows.append(
            [
                project_id,
                summary.model,
                summary.candidates,
                summary.drafted,
                summary.failures,
                round(summary.total_cost_usd, 6),
            ]
        )
    from signalops_assets.db.counts import count_rows
    from signalops_assets.db.models import Draft

    project_ids = loop.project_ids
    metadata: dict[str, Any] = {
        "drafted": drafted,
        "failures": failures,
        "by_project": table(DRAFT_COLUMNS, rows),
        **table_metadata(Draft, count_rows(engine, Draft, project_ids)),
    }
    fail_for_broken_projects(loop.failure(), metadata)
    return MaterializeResult(metadata=metadata)


DRAFT_COLUMNS = [
    ("project", "string"),
    ("model", "string"),
    ("candidates", "int"),
    ("drafted", "int"),
    ("failures", "int"),
    ("cost_usd", "float"),
]


@asset(
    deps=[drafts], group_name="preferences", kinds={"sql"}, owners=OWNERS, tags=tags("preferences")
)
def preference_pairs(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """Turn new edited/rejected draft events into DPO pairs (quality-filtered, never
    duplicated), advancing the collector's cursor with them."""
    from signalops_assets.db.models import PreferencePair
    from signalops_assets.db.session import session_scope
    from signalops_assets.preferences.collector import collect_pending
    from signalops_assets.preferences.queries import pair_totals

    engine = database.engine()
    summary = collect_pending(engine)
    context.log.info(f"collected through draft event {summary.last_event_id}")
    with session_scope(engine) as session:
        stored = pair_totals(session)
    return MaterializeResult(
        metadata={
            # This run's events, then the table's totals (the same after a run with no events).
            "events": summary.events_seen,
            "inserted": summary.inserted,
            "updated": summary.updated,
            "duplicates": summary.duplicates,
            "no_pair": summary.no_pair,
            "by_source": MetadataValue.json(dict(summary.by_source)),
            "by_filter_reason": MetadataValue.json(dict(summary.by_filter_reason)),
            "last_event_id": summary.last_event_id,
            "total_pairs": stored.total,
            "exportable_pairs": stored.exportable,
            **{f"pairs/{source}": n for source, n in sorted(stored.by_source.items())},
            **table_metadata(PreferencePair, stored.total),
        }
    )


EXPORT_COLUMNS = [
    ("project", "string"),
    ("train", "int"),
    ("eval", "int"),
    ("train_posts", "int"),
    ("eval_posts", "int"),
    ("skipped", "int"),
    ("path", "path"),
]


class DPOExportConfig(Config):
    format: Literal["trl", "trl-conversational", "openai"] = Field(
        default="trl", description="trl (prompt string), trl-conversational or openai"
    )


@asset(
    deps=[preference_pairs],
    group_name="preferences",
    kinds={"jsonl"},
    owners=OWNERS,
    tags=tags("preferences"),
    # Freshness is measured against the reviews (preferences/freshness_check.py), not the
    # clock: a quiet day without reviews needs no export.
)
def dpo_jsonl(
    context: AssetExecutionContext, config: DPOExportConfig, database: DatabaseResource
) -> MaterializeResult[None]:
    """`<export_dir>/<project>/dpo/{train,eval}.jsonl` from the unfiltered pairs, split by post,
    each file replaced atomically (export_dir: SIGNALOPS_EXPORT_DIR or data/exports)."""
    from signalops_assets.fine_tuning.dpo_sets import record_dpo_training_set
    from signalops_assets.preferences.events import collector_position
    from signalops_assets.preferences.export import dpo_dir, export_dpo

    engine, rows, files = database.engine(), [], []
    urls: dict[str, Any] = {}
    training_sets: dict[str, Any] = {}  # the `training_sets` row recording each project's files
    # Read before exporting: every pair collected through this event is in the files written.
    through = collector_position(engine)
    totals = {"train": 0, "eval": 0}
    sources: dict[str, int] = {}
    loop = configured_projects(run_id=context.run_id)
    for project in loop:
        project_id = project.project_id
        summary = export_dpo(
            engine, project_id, dpo_dir(project_id), config.format, project.quality.eval_fraction
        )
        recorded = record_dpo_training_set(engine, summary)
        if recorded is not None:
            training_sets[f"{project_id}/training_set_id"] = MetadataValue.int(recorded[0])
        for line in summary.skipped:
            context.log.warning(f"{project_id}: skipped {line}")
        for split in totals:
            totals[split] += summary.counts[split]
        for source, count in summary.sources.items():
            sources[source] = sources.get(source, 0) + count
        files += [
            {"project": project_id, "format": config.format, "path": str(summary.path(s))}
            for s in ("train", "eval")
        ]
        for split in ("train", "eval"):
            urls[f"{project_id}/{split}_url"] = MetadataValue.url(summary.path(split).as_uri())
        rows.append(
            [
                project_id,
                summary.counts["train"],
                summary.counts["eval"],
                summary.posts["train"],
                summary.posts["eval"],
                len(summary.skipped),
                str(summary.out_dir),
            ]
        )
    pairs = totals["train"] + totals["eval"]
    metadata: dict[str, Any] = {
        # Totals of the files as written (each run rewrites them whole).
        "pairs": pairs,
        "train": totals["train"],
        "eval": totals["eval"],
        "dagster/row_count": MetadataValue.int(pairs),
        "format": config.format,
        "sources": MetadataValue.json(sources),
        "by_project": table(EXPORT_COLUMNS, rows),
        "files": MetadataValue.json(files),
        **urls,
        **training_sets,
        EXPORTED_THROUGH_KEY: MetadataValue.int(through),
    }
    if len(rows) == 1:
        metadata["path"] = MetadataValue.path(str(rows[0][-1]))
    fail_for_broken_projects(loop.failure(), metadata)
    return MaterializeResult(metadata=metadata)


@asset_check(asset=dpo_jsonl, blocking=True)
def dpo_jsonl_valid(context: AssetCheckExecutionContext) -> AssetCheckResult:
    """Every line of every exported file is a valid record of its format (ERROR: blocks
    anything downstream, such as the Argilla push). An empty file (no pairs yet, or a single
    post so no eval split) is a WARN: `datasets.load_dataset` refuses an empty split."""
    event = context.instance.get_latest_materialization_event(dpo_jsonl.key)
    files: list[dict[str, str]] = []
    if event and event.asset_materialization:
        value = event.asset_materialization.metadata.get("files")
        files = list(value.value) if value is not None else []
    problems, lines, empty = [], 0, []
    for entry in files:
        try:
            report = validate_file(entry["path"], entry["format"])
        except OSError as exc:
            problems.append(f"{entry['path']}: {type(exc).__name__}: {exc.strerror}")
            continue
        lines += report.lines
        problems += [f"{entry['path']}:{n}: {why}" for n, why in report.errors[:5]]
        if not report.lines:
            empty.append(entry["path"])
    metadata = {"files": len(files), "lines": lines, "errors": len(problems), "empty": len(empty)}
    if problems:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description="; ".join(problems[:10]),
            metadata=metadata,
        )
    if empty:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            description=f"empty (a trainer cannot load it): {', '.join(empty[:10])}",
            metadata=metadata,
        )
    return AssetCheckResult(
        passed=True,
        description=f"{lines} lines valid in {len(files)} files" if files else "no export files",
        metadata=metadata,
    )
