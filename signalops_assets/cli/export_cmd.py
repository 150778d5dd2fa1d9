"""`signalops export training-data`: the same exports the assets run, through the same functions.

`--type dpo` writes the preference pairs (as `dpo_jsonl` does) or pushes them to Argilla;
`--type judgments` writes human-labelled judgments as OpenAI chat fine-tuning data in the judge's
own prompt format (judging/training_export.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from signalops_assets.cli import common
from signalops_assets.preferences.formats import DEFAULT_FORMAT, EXPORT_FORMATS

if TYPE_CHECKING:
    from signalops_assets.argilla.settings import ArgillaSettings
    from signalops_assets.config import ProjectConfig

# Words `--output` accepts besides a directory. Adding a destination is one entry here.
ARGILLA_OUTPUT = "argilla"
NAMED_OUTPUTS = (ARGILLA_OUTPUT,)
KINDS = ("dpo", "judgments")


@click.group()
def export() -> None:
    """Export training data."""


@export.command("training-data")
@click.option("--type", "kind", type=click.Choice(KINDS), required=True, help="What to export")
@click.option(
    "--format",
    "fmt",
    default=DEFAULT_FORMAT,
    show_default=True,
    metavar="[" + "|".join(EXPORT_FORMATS) + "]",
    help="DPO record format (--type dpo only; judgments are always OpenAI chat JSONL).",
)
@click.option("--project", "project_id", default=None, help="One project (default: all configured)")
@click.option(
    "--output",
    default=None,
    help="Export root directory (files go to DIR/<project>/dpo/ or DIR/<project>/judgments/), "
    "or FILE.jsonl (--type dpo, one project): every pair, train and eval together, in that one "
    "file, or `argilla` (--type dpo) to push the pairs to an Argilla review dataset. "
    "Default: SIGNALOPS_EXPORT_DIR or data/exports.",
)
@click.option(
    "--path",
    "file_path",
    default=None,
    metavar="FILE",
    help="--type judgments only: the output file (needs --project when several projects are "
    "configured). Default: <export root>/<project>/judgments/train.jsonl. "
    "--type dpo writes two files: give their root with --output instead.",
)
@common.argilla_options
@click.pass_context
def training_data(
    ctx: click.Context,
    kind: str,
    fmt: str,
    project_id: str | None,
    output: str | None,
    file_path: str | None,
    argilla_url: str | None,
    workspace: str | None,
    dataset: str | None,
) -> None:
    """--type dpo: write <output>/<project>/dpo/{train,eval}.jsonl from the unfiltered
    preference pairs (both switched together as one snapshot), or all of them to one file
    (--output FILE.jsonl), or (--output argilla) push them to Argilla for review.

    --type judgments: write every human-labelled post with a successful judgment as
    {"messages": [system, user, assistant]}, the exact messages the judges send plus the human
    label as the answer, to --path or <output>/<project>/judgments/train.jsonl.

    Files are replaced atomically: on any error the previous files are left intact."""
    from signalops_assets.errors import SignalOpsError

    if fmt not in EXPORT_FORMATS:
        raise SignalOpsError(f"unknown format {fmt!r} (expected {', '.join(EXPORT_FORMATS)})")
    if kind == "judgments" and output == ARGILLA_OUTPUT:
        raise SignalOpsError("--output argilla needs --type dpo")
    if (argilla_url or workspace or dataset) and output != ARGILLA_OUTPUT:
        raise SignalOpsError("--argilla-url, --workspace and --dataset need --output argilla")
    projects = common.project_loop(project_id).projects
    if kind == "judgments":
        if ctx.get_parameter_source("fmt") is not ParameterSource.DEFAULT:
            raise SignalOpsError("--format is for --type dpo (judgments are OpenAI chat JSONL)")
        _export_judgments(
            projects,
            Path(output) if output else None,
            Path(file_path) if file_path is not None else None,
        )
        return
    if file_path is not None:
        raise SignalOpsError("--path is for --type judgments (--type dpo takes --output DIR)")
    if output == ARGILLA_OUTPUT:
        _export_argilla(projects, common.argilla_settings(argilla_url, workspace), dataset)
        return
    if output is not None and output.endswith(".jsonl"):
        _export_one_file(fmt, projects, Path(output))
        return
    _export_files(fmt, projects, Path(output) if output else None)


def _export_one_file(fmt: str, projects: list[ProjectConfig], path: Path) -> None:
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.preferences.export import export_dpo_file

    if len(projects) != 1:
        raise SignalOpsError("--output FILE.jsonl names one file: give --project too")
    pid = projects[0].project_id
    try:
        summary = export_dpo_file(common.engine(), pid, path, fmt)
    except OSError as exc:
        raise SignalOpsError(f"{path}: cannot write: {exc.strerror or exc}") from None
    click.echo(
        f"{pid}: {summary.total} pairs ({fmt}; train and eval together, "
        f"{summary.duplicates} duplicates left out) → {path}"
    )
    for line in summary.skipped[:20]:
        click.echo(f"{pid}: skipped {line}", err=True)


def _export_argilla(
    projects: list[ProjectConfig], settings: ArgillaSettings, dataset: str | None
) -> None:
    from signalops_assets.argilla.sync import push_project

    common.check_argilla_dataset(projects, dataset)
    engine = common.engine()
    for cfg in projects:
        summary = push_project(engine, cfg.project_id, settings, dataset)
        created = "created" if summary.created_dataset else "existing"
        click.echo(
            f"{cfg.project_id}: {summary.pushed} pairs pushed to Argilla dataset {summary.dataset} "
            f"({created}, workspace {summary.workspace})"
        )


def _export_files(fmt: str, projects: list[ProjectConfig], root: Path | None) -> None:
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.fine_tuning.dpo_sets import record_dpo_training_set
    from signalops_assets.preferences.export import dpo_dir, export_dpo

    if root is not None and root.exists() and not root.is_dir():
        raise SignalOpsError(f"{root}: not a directory")
    engine = common.engine()
    for cfg in projects:
        pid = cfg.project_id
        out_dir = dpo_dir(pid, root)
        try:
            summary = export_dpo(engine, pid, out_dir, fmt, cfg.quality.eval_fraction)
        except OSError as exc:  # unwritable directory and the like: the old files stay
            raise SignalOpsError(f"{out_dir}: cannot write: {exc.strerror or exc}") from None
        recorded = record_dpo_training_set(engine, summary)
        sources = ", ".join(f"{k}={v}" for k, v in sorted(summary.sources.items())) or "none"
        click.echo(
            f"{pid}: {summary.counts['train']} train, {summary.counts['eval']} eval pairs "
            f"({fmt}; sources: {sources}; {summary.duplicates} duplicates left out) "
            f"→ {summary.out_dir}" + (f" (training set {recorded[0]})" if recorded else "")
        )
        if not summary.counts["eval"] and summary.total:
            click.echo(
                f"{pid}: eval.jsonl is empty (fewer than 2 distinct posts, or eval_fraction 0)",
                err=True,
            )
        for line in summary.skipped[:20]:
            click.echo(f"{pid}: skipped {line}", err=True)


def _export_judgments(
    projects: list[ProjectConfig], root: Path | None, file_path: Path | None
) -> None:
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.judging.training_export import (
        export_judgments,
        judgments_path,
        prepare_target,
    )

    if root is not None and file_path is not None:
        raise SignalOpsError("give --path FILE or --output DIR, not both")
    if root is not None and root.exists() and not root.is_dir():
        raise SignalOpsError(f"{root}: not a directory")
    if file_path is not None and len(projects) > 1:
        raise SignalOpsError("--path names one file: give --project too")
    # Every project and target is checked before the first file is written.
    targets = [(cfg, file_path or judgments_path(cfg.project_id, root)) for cfg in projects]
    for _, path in targets:
        prepare_target(path)
    engine = common.engine()
    for cfg, path in targets:
        summary = export_judgments(engine, cfg.project_id, path, cfg)
        labels = ", ".join(f"{k}={v}" for k, v in sorted(summary.labels.items())) or "none"
        click.echo(
            f"{cfg.project_id}: {summary.written} judgment examples ({labels}; "
            f"{summary.corrected} corrected the judge), {len(summary.skipped)} skipped → {path}"
        )
        click.echo(
            f"{cfg.project_id}: its posts → {summary.posts_path} "
            "(signalops model register --training-posts FILE)"
        )
        for line in summary.skipped[:20]:
            click.echo(f"{cfg.project_id}: skipped {line}", err=True)
