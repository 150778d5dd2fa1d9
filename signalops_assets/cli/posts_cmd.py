from __future__ import annotations

from pathlib import Path

import click

from signalops_assets.cli import common


@click.group()
def posts() -> None:
    """Import and inspect posts."""


@posts.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--project", "project_id", required=True, help="Project id (data/projects/<id>.yaml)")
def import_(file: Path, project_id: str) -> None:
    """Load posts from a JSONL file; bad lines are reported and skipped; re-import is safe."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.posts import ensure_project, import_posts

    cfg = common.project(project_id)
    with session_scope(common.engine()) as session:
        ensure_project(session, cfg)
        report = import_posts(session, project_id, file)
    for line_no, message in report.bad_lines[:50]:
        click.echo(common.one_line(f"{file}:{line_no}: skipped: {message}"), err=True)
    if len(report.bad_lines) > 50:
        click.echo(f"... and {len(report.bad_lines) - 50} more bad lines", err=True)
    click.echo(
        f"imported {report.inserted} posts into '{project_id}' "
        f"({report.duplicates} already present, {len(report.bad_lines)} bad lines)"
    )
