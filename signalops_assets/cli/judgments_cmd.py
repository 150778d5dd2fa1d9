from __future__ import annotations

from pathlib import Path

import click

from signalops_assets.cli import common


@click.group()
def judgments() -> None:
    """Human labels for judgments (the ground truth experiments are measured against)."""


@judgments.command("label")
@click.argument("judgment_id", type=common.ROW_ID)
@click.argument("label", type=click.Choice(["relevant", "irrelevant", "maybe"]))
def label(judgment_id: int, label: str) -> None:
    """Set the human label of a judgment (and of its post, for every judge)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.judging.labels import label_judgment

    with session_scope(common.engine()) as session:
        judgment = label_judgment(session, judgment_id, label)
        trace_id, judge_label = judgment.trace_id, judgment.label
    click.echo(f"judgment {judgment_id}: human label {label} (judge said {judge_label})")
    _push_score(trace_id, label, judge_label)


def _push_score(trace_id: str | None, human: str, judge_label: str) -> None:
    """Human labels become Langfuse scores on the judge's trace when tracing is on."""
    if not trace_id:
        return
    from signalops_assets.llm.tracing import get_tracer

    tracer = get_tracer()
    if tracer.enabled:
        tracer.score(
            trace_id=trace_id,
            name="human_agreement",
            value=1.0 if human == judge_label else 0.0,
            comment=f"human: {human}",
        )
        tracer.flush()


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
