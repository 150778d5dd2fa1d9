"""Helpers shared by CLI commands: database engine and project loading."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from signalops_assets.config import ProjectConfig


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
