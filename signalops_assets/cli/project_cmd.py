"""`signalops project`: per-project state kept in the database."""

from __future__ import annotations

import click

from signalops_assets.cli import common


@click.group()
def project() -> None:
    """Project state: the judge override a promoted experiment set."""


@project.command("reset-judge")
@click.argument("project_id")
def reset_judge(project_id: str) -> None:
    """Clear the judge override `experiment stop --promote` set; the project judges with its
    configured llm.judge_model again."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.posts import reset_judge_override

    cfg = common.project(project_id)
    with session_scope(common.engine()) as session:
        cleared = reset_judge_override(session, project_id)
    if cleared is None:
        click.echo(f"project {project_id}: no judge override set (judge {cfg.llm.judge_model})")
    else:
        click.echo(
            f"project {project_id}: cleared judge override {cleared}; "
            f"judge is {cfg.llm.judge_model} again"
        )
