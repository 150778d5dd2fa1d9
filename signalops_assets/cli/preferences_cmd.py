"""`signalops preferences`: DPO preference pairs (add a manual one, list them)."""

from __future__ import annotations

import click

from signalops_assets.cli import common


@click.group()
def preferences() -> None:
    """DPO preference pairs collected from review."""


@preferences.command("add")
@click.option(
    "--draft", "draft_id", type=common.ROW_ID, required=True, help="The draft the pair is for"
)
@click.option("--chosen", required=True, help="The better reply (the draft is the rejected side)")
def add(draft_id: int, chosen: str) -> None:
    """Add a manual pair: chosen = TEXT, rejected = the draft's generated text."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.preferences.collector import DPOCollector
    from signalops_assets.validation import check_text

    check_text(chosen, "--chosen")
    with session_scope(common.engine()) as session:
        outcome = DPOCollector().add_manual(session, draft_id, chosen)
    kept = f"filtered: {outcome.filter_reason}" if outcome.filter_reason else "kept"
    click.echo(f"pair {outcome.pair_id} for draft {draft_id} (source manual, {kept})")


@preferences.command("list")
@click.option("--project", "project_id", default=None, help="Only this project")
@click.option(
    "--filtered/--no-filtered",
    default=None,
    help="Only pairs the quality filters dropped / only kept pairs (default: all)",
)
@click.option("--limit", type=common.LIMIT, default=200, show_default=True)
def list_cmd(project_id: str | None, filtered: bool | None, limit: int) -> None:
    """Pairs as a table, oldest first."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.preferences.queries import list_pairs
    from signalops_assets.reporting import text_table

    with session_scope(common.engine()) as session:
        rows = [
            [
                p.id,
                p.project_id,
                p.draft_id,
                p.source,
                p.filter_reason if p.filtered else "kept",
                round(p.edit_ratio, 3),
                p.length_delta,
                " ".join(p.chosen.split())[:50],
            ]
            for p in list_pairs(session, project_id, filtered, limit)
        ]
    if not rows:
        click.echo("no preference pairs")
        return
    headers = ["id", "project", "draft", "source", "filter", "edit_ratio", "len_delta", "chosen"]
    click.echo(text_table(headers, rows))


@preferences.command("sync-argilla")
@click.option("--project", "project_id", default=None, help="One project (default: all configured)")
@common.argilla_options
def sync_argilla(
    project_id: str | None, argilla_url: str | None, workspace: str | None, dataset: str | None
) -> None:
    """Apply reviewers' Argilla decisions: swap flips a pair, discard filters it (reason
    `reviewer`). The next dpo_jsonl export follows them."""
    from signalops_assets.argilla.records import default_dataset_name
    from signalops_assets.argilla.sync import sync_project

    settings = common.argilla_settings(argilla_url, workspace)
    projects = common.project_loop(project_id).projects
    common.check_argilla_dataset(projects, dataset)
    engine = common.engine()
    for cfg in projects:
        pid = cfg.project_id
        s = sync_project(engine, pid, settings, dataset)
        if s.dataset_missing:
            name = dataset or default_dataset_name(pid)
            click.echo(f"{pid}: no Argilla dataset {name!r} yet (nothing pushed): nothing to sync")
            continue
        applied = ", ".join(f"{k}={v}" for k, v in sorted(s.applied.items())) or "none"
        click.echo(
            f"{pid}: {s.decisions_read} decisions read; applied {applied}; "
            f"{s.unchanged} unchanged, {s.stale} stale, {s.tied} tied"
        )
