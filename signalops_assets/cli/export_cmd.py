"""`signalops export training-data`: the same export the dpo_jsonl asset runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from signalops_assets.cli import common
from signalops_assets.preferences.formats import DEFAULT_FORMAT, EXPORT_FORMATS

if TYPE_CHECKING:
    from signalops_assets.preferences.argilla_review import ArgillaSettings

# Words `--output` accepts besides a directory. Adding a destination is one entry here.
ARGILLA_OUTPUT = "argilla"
NAMED_OUTPUTS = (ARGILLA_OUTPUT,)


@click.group()
def export() -> None:
    """Export training data."""


@export.command("training-data")
@click.option("--type", "kind", type=click.Choice(["dpo"]), required=True, help="What to export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default=DEFAULT_FORMAT,
    show_default=True,
)
@click.option("--project", "project_id", default=None, help="One project (default: all configured)")
@click.option(
    "--output",
    default=None,
    help="Export root directory (files go to DIR/<project>/dpo/), or `argilla` to push the "
    "pairs to an Argilla review dataset. Default: SIGNALOPS_EXPORT_DIR or data/exports.",
)
@click.option(
    "--argilla-url",
    default=None,
    help="Argilla server (default: ARGILLA_API_URL). The key is read from ARGILLA_API_KEY only.",
)
@click.option("--workspace", default=None, help="Argilla workspace (default: ARGILLA_WORKSPACE)")
@click.option("--dataset", default=None, help="Argilla dataset (default: <project>-dpo-review)")
def training_data(
    kind: str,
    fmt: str,
    project_id: str | None,
    output: str | None,
    argilla_url: str | None,
    workspace: str | None,
    dataset: str | None,
) -> None:
    """Write <output>/<project>/dpo/{train,eval}.jsonl from the unfiltered preference pairs,
    or (--output argilla) push them to Argilla for review."""
    from signalops_assets.config import configured_project_ids
    from signalops_assets.errors import SignalOpsError

    projects = [project_id] if project_id else configured_project_ids()
    if output == ARGILLA_OUTPUT:
        _export_argilla(projects, common.argilla_settings(argilla_url, workspace), dataset)
        return
    if argilla_url or workspace or dataset:
        raise SignalOpsError("--argilla-url, --workspace and --dataset need --output argilla")
    _export_files(fmt, projects, Path(output) if output else None)


def _export_argilla(projects: list[str], settings: ArgillaSettings, dataset: str | None) -> None:
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.preferences.argilla_sync import push_project

    if not projects:
        raise SignalOpsError("no projects configured")
    if dataset and len(projects) > 1:
        raise SignalOpsError("--dataset names one dataset: give --project too")
    engine = common.engine()
    for pid in projects:
        common.project(pid)  # unknown project → one-line error before any request
        summary = push_project(engine, pid, settings, dataset)
        created = "created" if summary.created_dataset else "existing"
        click.echo(
            f"{pid}: {summary.pushed} pairs pushed to Argilla dataset {summary.dataset} "
            f"({created}, workspace {summary.workspace})"
        )


def _export_files(fmt: str, projects: list[str], root: Path | None) -> None:
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.preferences.export import dpo_dir, export_dpo

    if root is not None and root.exists() and not root.is_dir():
        raise SignalOpsError(f"{root}: not a directory")
    if not projects:
        raise SignalOpsError("no projects configured")
    engine = common.engine()
    for pid in projects:
        cfg = common.project(pid)
        summary = export_dpo(engine, pid, dpo_dir(pid, root), fmt, cfg.quality.eval_fraction)
        sources = ", ".join(f"{k}={v}" for k, v in sorted(summary.sources.items())) or "none"
        click.echo(
            f"{pid}: {summary.counts['train']} train, {summary.counts['eval']} eval pairs "
            f"({fmt}; sources: {sources}) → {summary.out_dir}"
        )
        for line in summary.skipped[:20]:
            click.echo(f"{pid}: skipped {line}", err=True)
