"""`signalops export training-data`: the same export the dpo_jsonl asset runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from signalops_assets.cli import common
from signalops_assets.preferences.formats import DEFAULT_FORMAT, EXPORT_FORMATS

# Words `--output` accepts besides a directory; each maps to a handler taking (type, format,
# projects). Adding a destination (argilla) is one entry here.
OutputHandler = Callable[[str, str, list[str]], None]


def _argilla_not_configured(_kind: str, _fmt: str, _projects: list[str]) -> None:
    from signalops_assets.errors import SignalOpsError

    raise SignalOpsError("argilla output not configured")


NAMED_OUTPUTS: dict[str, OutputHandler] = {"argilla": _argilla_not_configured}


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
    help="Export root directory (files go to DIR/<project>/dpo/), or a destination word "
    "(argilla). Default: SIGNALOPS_EXPORT_DIR or data/exports.",
)
def training_data(kind: str, fmt: str, project_id: str | None, output: str | None) -> None:
    """Write <output>/<project>/dpo/{train,eval}.jsonl from the unfiltered preference pairs."""
    from signalops_assets.config import configured_project_ids

    projects = [project_id] if project_id else configured_project_ids()
    if output in NAMED_OUTPUTS:
        NAMED_OUTPUTS[output](kind, fmt, projects)
        return
    _export_files(fmt, projects, Path(output) if output else None)


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
