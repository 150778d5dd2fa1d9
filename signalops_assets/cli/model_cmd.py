from __future__ import annotations

from pathlib import Path

import click

from signalops_assets.cli import common
from signalops_assets.vocab import ModelType, values

# Kept in sync with experiments.registry (checked by a test); a Choice here would import the
# registry, and through it SQLAlchemy, on `signalops --help`.
MODEL_TYPES = values(ModelType)


@click.group()
def model() -> None:
    """Model registry: fine-tuned and deployed judges and drafters."""


@model.command()
@click.option("--model-id", required=True, help="LiteLLM model id, e.g. ft:gpt-4o-mini:org::abc")
@click.option("--provider", required=True, help="openai, anthropic, azure, bedrock, ...")
@click.option("--type", "model_type", required=True, type=click.Choice(MODEL_TYPES))
@click.option("--base-model", default=None, help="The model it was fine-tuned from")
@click.option("--version", default=None)
@click.option("--display-name", default="")
@click.option("--training-file", default=None, help="The training export it was trained on")
@click.option("--training-examples", type=common.COUNT, default=None)
@click.option(
    "--training-posts",
    "training_posts",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File of the posts it was trained on (post ids, or project<TAB>platform_id lines as "
    "`export training-data --type judgments` writes): experiments exclude them from both arms",
)
def register(
    model_id: str,
    provider: str,
    model_type: str,
    base_model: str | None,
    version: str | None,
    display_name: str,
    training_file: str | None,
    training_examples: int | None,
    training_posts: Path | None,
) -> None:
    """Register a model (active from the start)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.registry import (
        read_training_posts,
        register_model,
        set_training_posts,
    )

    excluded = 0
    with session_scope(common.engine()) as session:
        post_ids = read_training_posts(session, training_posts) if training_posts else []
        entry = register_model(
            session,
            model_id,
            provider,
            model_type,
            display_name=display_name,
            base_model=base_model,
            version=version,
            training_file=training_file,
            training_examples=training_examples,
        )
        if post_ids:
            excluded = set_training_posts(session, entry, post_ids)
    click.echo(f"registered {model_type} model {model_id} ({provider})")
    if excluded:
        click.echo(f"recorded {excluded} training posts (experiments exclude them)")


@model.command("list")
@click.option("--type", "model_type", type=click.Choice(MODEL_TYPES), default=None)
@click.option("--active", "active_only", is_flag=True, help="Only active models")
def list_(model_type: str | None, active_only: bool) -> None:
    """Registered models as a table."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.registry import list_models
    from signalops_assets.reporting import text_table

    with session_scope(common.engine()) as session:
        rows = [
            [
                m.model_id,
                m.model_type,
                m.provider,
                m.version,
                m.base_model,
                m.training_examples,
                "yes" if m.is_active else "no",
                m.deployed_at.strftime("%Y-%m-%d %H:%M"),
            ]
            for m in list_models(session, model_type, active_only)
        ]
    if not rows:
        click.echo(_nothing_listed(model_type, active_only))
        return
    headers = ["model", "type", "provider", "version", "base", "examples", "active", "deployed"]
    click.echo(text_table(headers, rows))


def _nothing_listed(model_type: str | None, active_only: bool) -> str:
    """Says which filter emptied the list: "no models registered" only when that is true."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.registry import list_models

    with session_scope(common.engine()) as session:
        registered = len(list_models(session, None, False))
    if registered == 0:
        return "no models registered"
    wanted = " ".join(w for w in ("active" if active_only else "", model_type or "") if w)
    return f"no {wanted} models ({registered} registered; see: signalops model list)"


def _set_active(model_id: str, active: bool) -> None:
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.registry import set_active

    with session_scope(common.engine()) as session:
        set_active(session, model_id, active)
    click.echo(f"{'activated' if active else 'deactivated'} {model_id}")


@model.command()
@click.argument("model_id")
def activate(model_id: str) -> None:
    """Mark a model active."""
    _set_active(model_id, True)


@model.command()
@click.argument("model_id")
def deactivate(model_id: str) -> None:
    """Mark a model inactive (experiments refuse it until it is activated again)."""
    _set_active(model_id, False)


@model.command()
@click.argument("model_id")
def show(model_id: str) -> None:
    """One model with its lineage (training set, posts, base model) and metrics."""
    import json

    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.registry import require_model
    from signalops_assets.fine_tuning.service import lineage

    with session_scope(common.engine()) as session:
        entry = require_model(session, model_id)
        info = {
            "model_id": entry.model_id,
            "type": entry.model_type,
            "provider": entry.provider,
            "active": entry.is_active,
            **lineage(session, entry),
        }
    click.echo(json.dumps(info, indent=2, sort_keys=True, default=str))
