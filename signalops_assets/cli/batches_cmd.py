"""`signalops batches`: the provider batch jobs of batch mode (llm.mode: batch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from signalops_assets.cli import common

if TYPE_CHECKING:
    from signalops_assets.config import ProjectConfig
    from signalops_assets.llm.settings import LLMSettings


def _settings(project: ProjectConfig) -> LLMSettings:
    from signalops_assets.llm.settings import environment_defaults, resolve

    return resolve(project.llm, environment_defaults())


@click.group()
def batches() -> None:
    """Batch mode: list, inspect, poll and cancel provider batch jobs."""


@batches.command("list")
@click.option("--project", "project_id", default=None)
@click.option("--open", "open_only", is_flag=True, help="Only batches not ingested yet")
def list_(project_id: str | None, open_only: bool) -> None:
    """Batches, newest first: provider id, model, status, requests, when ingested."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.judging.batch_records import list_batches
    from signalops_assets.reporting import text_table

    with session_scope(common.engine()) as session:
        rows = [
            [b.id, b.batch_id, b.project_id, b.model, b.status, b.requests, b.closed_at]
            for b in list_batches(session, project_id, open_only)
        ]
    if not rows:
        click.echo("no batches")
        return
    headers = ["row", "batch", "project", "model", "status", "requests", "ingested at"]
    click.echo(text_table(headers, rows))


@batches.command()
@click.argument("batch")
def status(batch: str) -> None:
    """One batch (provider id or row), refreshed from the provider while it is open."""
    from signalops_assets.judging.batch_poll import batch_status

    row, states = batch_status(common.engine(), batch, _settings)
    items = ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
    closed = f", ingested {row.closed_at:%Y-%m-%d %H:%M}" if row.closed_at else ", open"
    click.echo(f"batch {row.batch_id} ({row.model}): {row.status}{closed}; items: {items}")
    if row.error:
        click.echo(f"error: {common.one_line(row.error)[:300]}")


@batches.command()
@click.option("--project", "project_ids", multiple=True, help="Default: every project")
def poll(project_ids: tuple[str, ...]) -> None:
    """Poll open batches now and ingest finished ones (what llm_batch_sensor does)."""
    from signalops_assets.judging.batch_poll import poll_batches

    report = poll_batches(common.engine(), _settings, project_ids=list(project_ids) or None)
    for project_id, reason in sorted(report.broken.items()):
        click.echo(f"warning: {project_id}: batches not polled: {reason}", err=True)
    click.echo(report.describe())


@batches.command()
@click.argument("batch")
def cancel(batch: str) -> None:
    """Ask the provider to cancel; the next poll ingests what finished, releases the rest."""
    from signalops_assets.config import load_project
    from signalops_assets.judging.batch_records import cancel_batch

    state = cancel_batch(common.engine(), batch, lambda pid: _settings(load_project(pid)))
    click.echo(f"batch {batch}: {state}")
