"""The `signalops` command. Command modules import domain code inside their functions, so
`signalops --help` stays fast."""

from __future__ import annotations

import sys
from typing import Any

import click

from signalops_assets.cli import (
    batches_cmd,
    db_cmd,
    drafts_cmd,
    experiment_cmd,
    export_cmd,
    finetune_cmd,
    judgments_cmd,
    model_cmd,
    posts_cmd,
    preferences_cmd,
    project_cmd,
)


class SignalOpsGroup(click.Group):
    """Turns user-facing errors into one line on stderr and exit code 2, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from signalops_assets.cli.common import one_line
        from signalops_assets.errors import SignalOpsError

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # bad option or argument of a subcommand: one line too
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            click.echo(one_line(f"error: {exc.format_message()}{hint}"), err=True)
            ctx.exit(2)
        except SignalOpsError as exc:
            click.echo(one_line(f"error: {exc}"), err=True)
            ctx.exit(2)
        except click.ClickException as exc:  # e.g. click.edit's "editor failed": exit 2 too
            click.echo(one_line(f"error: {exc.format_message()}"), err=True)
            ctx.exit(2)
        except OSError as exc:  # a file that cannot be read or written: one line naming it
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(one_line(f"error: {where}{exc.strerror or exc}"), err=True)
            ctx.exit(2)
        except Exception as exc:  # database unreachable and the like: still one line
            if type(exc).__module__.startswith("sqlalchemy"):
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                message = f"error: database: {type(exc).__name__}: {first[:300]}"
                click.echo(one_line(message), err=True)
                ctx.exit(2)
            raise


@click.group(cls=SignalOpsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="signalops-assets")
def cli() -> None:
    """SignalOps: judge posts with LLMs, A/B test judges, turn review edits into DPO data."""


cli.add_command(db_cmd.db)
cli.add_command(posts_cmd.posts)
cli.add_command(judgments_cmd.judgments)
cli.add_command(model_cmd.model)
cli.add_command(experiment_cmd.experiment)
cli.add_command(drafts_cmd.drafts)
cli.add_command(preferences_cmd.preferences)
cli.add_command(export_cmd.export)
cli.add_command(finetune_cmd.finetune)
cli.add_command(batches_cmd.batches)
cli.add_command(project_cmd.project)


def main() -> None:
    sys.exit(cli.main(standalone_mode=True))


if __name__ == "__main__":
    main()
