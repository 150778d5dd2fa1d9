from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from signalops_assets.cli import common
from signalops_assets.vocab import LABELS

if TYPE_CHECKING:
    from signalops_assets.streaming import Progress


@click.group()
def judgments() -> None:
    """Human labels for judgments (the ground truth experiments are measured against)."""


@judgments.command("label")
@click.argument("judgment_id", type=common.ROW_ID)
@click.argument("label", type=click.Choice(LABELS))
def label(judgment_id: int, label: str) -> None:
    """Set the human label of a judgment (and of its post, for every judge)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.judging.labels import label_judgment

    with session_scope(common.engine()) as session:
        judgment = label_judgment(session, judgment_id, label)
        judge_label = judgment.label
    said = judge_label or "nothing: the judgment failed"
    click.echo(f"judgment {judgment_id}: human label {label} (judge said {said})")


@judgments.command("import-labels")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--project", "project_id", default=None, help="Resolve platform ids in this project")
def import_labels_cmd(file: Path, project_id: str | None) -> None:
    """Import labels from CSV or JSONL (label + judgment_id, post_id or platform_id)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.judging.labels import import_labels

    with session_scope(common.engine()) as session:
        report = import_labels(session, file, project_id)
    for line_no, message in report.bad_rows[:50]:
        click.echo(common.one_line(f"{file}:{line_no}: skipped: {message}"), err=True)
    if len(report.bad_rows) > 50:
        click.echo(f"... and {len(report.bad_rows) - 50} more bad rows", err=True)
    click.echo(f"applied {report.applied} labels ({len(report.bad_rows)} bad rows)")


@judgments.command("eval-dataset")
@click.option("--project", "project_id", required=True, help="The project whose labels to mirror")
@click.option(
    "--fraction",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=None,
    help="Share of posts held out (default: the project's fine_tuning.eval_fraction, the split "
    "its judge training sets use)",
)
def eval_dataset_cmd(project_id: str, fraction: float | None) -> None:
    """Mirror the held-out human-labelled posts to the Langfuse dataset <project>-judge-eval."""
    from signalops_assets.judging.eval_dataset import eval_dataset_name, mirror_eval_dataset
    from signalops_assets.llm.tracing import get_tracer

    cfg = common.project(project_id)
    fraction = cfg.fine_tuning.eval_fraction if fraction is None else fraction
    if not get_tracer().enabled:
        click.echo("Langfuse tracing is off (LANGFUSE_* not set): nothing mirrored")
        return
    sent = mirror_eval_dataset(common.engine(), project_id, fraction)
    click.echo(
        f"{sent} held-out labelled posts in Langfuse dataset {eval_dataset_name(project_id)}"
    )


@judgments.command("retry")
@click.option("--project", "project_id", default=None, help="Only this project (default: all)")
@click.option(
    "--error-like",
    default=None,
    help="Only failures whose error contains this text (e.g. RateLimitError, 'parse failure')",
)
def retry(project_id: str | None, error_like: str | None) -> None:
    """Judge again every post whose current judgment failed, given up or not, with the
    project's current judge; the failures stay as superseded history."""
    from signalops_assets.judging.project_run import judge_project, project_judge
    from signalops_assets.llm.settings import environment_defaults, resolve

    loop = common.project_loop(project_id)  # all checked before a call
    engine = common.engine()
    for cfg in loop:  # each project traced, the tracer flushed after it
        settings = resolve(cfg.llm, environment_defaults())
        judge = project_judge(engine, cfg, settings)
        summary = judge_project(
            engine,
            cfg,
            settings,
            judge,
            retry_failed=True,
            error_like=error_like,
            on_progress=_progress_to_stderr(cfg.project_id),
        )
        click.echo(
            f"{cfg.project_id}: re-judged {summary.posts_judged} failed posts with "
            f"{judge.description}: {summary.recovered} recovered, "
            f"{summary.failures} still failing; {summary.given_up} given up "
            f"(failed {cfg.llm.max_attempts}+ times)"
        )


def _progress_to_stderr(project_id: str) -> Callable[[Progress], None]:
    def echo(progress: Progress) -> None:
        click.echo(f"{project_id}: {progress.line('posts')}", err=True)

    return echo
