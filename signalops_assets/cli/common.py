"""Helpers shared by CLI commands: database engine and project loading."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from signalops_assets.config import ProjectConfig
    from signalops_assets.preferences.argilla_review import ArgillaSettings


def engine(migrate: bool = True) -> Engine:
    from signalops_assets.db.migrate import ensure_schema
    from signalops_assets.db.session import cached_engine, database_url

    eng = cached_engine(database_url())
    if migrate:
        ensure_schema(eng)
    return eng


def project(project_id: str) -> ProjectConfig:
    from signalops_assets.config import load_project

    return load_project(project_id)


def argilla_settings(url: str | None = None, workspace: str | None = None) -> ArgillaSettings:
    """ARGILLA_API_URL / ARGILLA_API_KEY / ARGILLA_WORKSPACE, overridden by CLI options.
    The key only ever comes from the environment, so it never lands in shell history."""
    import os

    from signalops_assets.errors import SignalOpsError
    from signalops_assets.preferences.argilla_review import (
        DEFAULT_WORKSPACE,
        ENV_API_KEY,
        ENV_API_URL,
        ENV_WORKSPACE,
        ArgillaSettings,
    )

    api_url = (url or os.environ.get(ENV_API_URL) or "").strip().rstrip("/")
    api_key = (os.environ.get(ENV_API_KEY) or "").strip()
    if not api_url:
        raise SignalOpsError(f"Argilla not configured: set {ENV_API_URL} or pass --argilla-url")
    if not api_key:
        raise SignalOpsError(f"Argilla not configured: set {ENV_API_KEY}")
    ws = (workspace or os.environ.get(ENV_WORKSPACE) or "").strip() or DEFAULT_WORKSPACE
    return ArgillaSettings(api_url=api_url, api_key=api_key, workspace=ws)
