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

from signalops_assets.config import configured_project_ids, load_project
from signalops_assets.preferences.formats import validate_file
from signalops_assets.reporting import markdown_table
from signalops_assets.resources import DatabaseResource, LLMResource


@asset(deps=["judged_posts"], group_name="preferences", pool="llm", compute_kind="litellm")
def drafts(
    context: AssetExecutionContext, database: DatabaseResource, llm: LLMResource
) -> MaterializeResult[None]:
    """Draft a reply (project persona, draft_model) to every relevant post without one; the
    exact prompt is stored with the draft. Failed calls are reported, not stored."""
    from signalops_assets.llm.tracing import get_tracer, trace_context
    from signalops_assets.preferences.drafts import LLMDraftGenerator, draft_pending

    engine, rows, drafted, failures = database.engine(), [], 0, 0
    for project_id in configured_project_ids():
        project = load_project(project_id)
        generator = LLMDraftGenerator(llm.gateway(project.llm.api_base), project)
        with trace_context(run_id=context.run_id, metadata={"project": project_id}):
            summary = draft_pending(engine, project_id, generator, project.llm.max_concurrency)
        get_tracer().flush()
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
    headers = ["project", "model", "candidates", "drafted", "failures", "cost $"]
    return MaterializeResult(
        metadata={
            "drafted": drafted,
            "failures": failures,
            "by_project": MetadataValue.md(markdown_table(headers, rows)),
        }
    )


@asset(deps=[drafts], group_name="preferences", compute_kind="sql")
def preference_pairs(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """Turn new edited/rejected draft events into DPO pairs (quality-filtered, never
    duplicated), advancing the collector's cursor with them."""
    from signalops_assets.preferences.collector import collect_pending

    summary = collect_pending(database.engine())
    context.log.info(f"collected through draft event {summary.last_event_id}")
    return MaterializeResult(
        metadata={
            "events": summary.events_seen,
            "inserted": summary.inserted,
            "updated": summary.updated,
            "duplicates": summary.duplicates,
            "no_pair": summary.no_pair,
            "by_source": MetadataValue.json(dict(summary.by_source)),
            "by_filter_reason": MetadataValue.json(dict(summary.by_filter_reason)),
            "last_event_id": summary.last_event_id,
        }
    )


class DPOExportConfig(Config):
    format: Literal["trl", "trl-conversational", "openai"] = Field(
        default="trl", description="trl (prompt string), trl-conversational or openai"
    )


@asset(deps=[preference_pairs], group_name="preferences", compute_kind="jsonl")
def dpo_jsonl(
    context: AssetExecutionContext, config: DPOExportConfig, database: DatabaseResource
) -> MaterializeResult[None]:
    """`<export_dir>/<project>/dpo/{train,eval}.jsonl` from the unfiltered pairs, split by post,
    each file replaced atomically (export_dir: SIGNALOPS_EXPORT_DIR or data/exports)."""
    from signalops_assets.preferences.export import dpo_dir, export_dpo

    engine, rows, files = database.engine(), [], []
    totals = {"train": 0, "eval": 0}
    sources: dict[str, int] = {}
    for project_id in configured_project_ids():
        project = load_project(project_id)
        summary = export_dpo(
            engine, project_id, dpo_dir(project_id), config.format, project.quality.eval_fraction
        )
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
    headers = ["project", "train", "eval", "train posts", "eval posts", "skipped", "path"]
    metadata: dict[str, Any] = {
        "pairs": totals["train"] + totals["eval"],
        "train": totals["train"],
        "eval": totals["eval"],
        "format": config.format,
        "sources": MetadataValue.json(sources),
        "by_project": MetadataValue.md(markdown_table(headers, rows)),
        "files": MetadataValue.json(files),
    }
    if len(rows) == 1:
        metadata["path"] = MetadataValue.path(str(rows[0][-1]))
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
