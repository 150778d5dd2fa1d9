"""Helpers shared by CLI commands: database engine and project loading."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from signalops_assets.argilla.settings import ArgillaSettings
    from signalops_assets.config import ProjectConfig
    from signalops_assets.project_loop import ProjectLoop


def one_line(message: object) -> str:
    """The message with every control or separator character (newline, U+001E, U+2028, ...)
    escaped: a path or value echoed from user input can never break the one-line promise."""
    text = str(message)
    return "".join(
        ch if ch == " " or ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text
    )


def engine(migrate: bool = True, create: bool = False) -> Engine:
    """The app database; only `create` (signalops db upgrade) may create a new SQLite file."""
    from signalops_assets.db.migrate import ensure_schema
    from signalops_assets.db.session import open_app_engine

    eng = open_app_engine(create=create)
    if migrate:
        ensure_schema(eng)
    return eng


def project(project_id: str) -> ProjectConfig:
    from signalops_assets.config import load_project

    return load_project(project_id)


def project_loop(project_id: str | None) -> ProjectLoop:
    """What a command runs over: --project alone, else every configured project, all loaded
    before any work starts (a broken file is one config error, exit 2: a command never
    half-runs); none configured is an error too."""
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.project_loop import configured_projects

    loop = configured_projects(project_id=project_id, strict=True)
    if not loop.project_ids:
        raise SignalOpsError("no projects configured")
    return loop


F = TypeVar("F", bound=Callable[..., object])

# Row ids as the database can hold them on both backends (validation.MAX_ID), checked by
# click before anything opens the database.
ROW_ID = click.IntRange(1, 2**31 - 1)
COUNT = click.IntRange(max=2**31 - 1)  # the lower bound is the registry's own check
LIMIT = click.IntRange(1, 1_000_000)


def argilla_options(fn: F) -> F:
    """--argilla-url, --workspace and --dataset, for every command that talks to Argilla."""
    for option in reversed(
        (
            click.option(
                "--argilla-url",
                default=None,
                help="Argilla server (default: ARGILLA_API_URL). "
                "The key is read from ARGILLA_API_KEY only.",
            ),
            click.option(
                "--workspace", default=None, help="Argilla workspace (default: ARGILLA_WORKSPACE)"
            ),
            click.option(
                "--dataset", default=None, help="Argilla dataset (default: <project>-dpo-review)"
            ),
        )
    ):
        fn = option(fn)
    return fn


def check_argilla_dataset(projects: list[ProjectConfig], dataset: str | None) -> None:
    """--dataset only with one project: checked before any request."""
    from signalops_assets.errors import SignalOpsError

    if dataset and len(projects) > 1:
        raise SignalOpsError("--dataset names one dataset: give --project too")


def argilla_settings(url: str | None = None, workspace: str | None = None) -> ArgillaSettings:
    """The same settings reader as the asset, with CLI overrides; not configured is an error."""
    from signalops_assets.argilla.settings import argilla_settings as read

    settings = read(url=url, workspace=workspace, required=True)
    assert settings is not None  # required=True raises instead
    return settings
