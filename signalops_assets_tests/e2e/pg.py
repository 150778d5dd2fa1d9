"""Fresh PostgreSQL databases for end-to-end tests, dropped (connections forced out) after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from signalops_assets_tests.conftest import PG_ADMIN_URL


@contextmanager
def fresh_databases(*roles: str) -> Iterator[list[str]]:
    """One new database per role (named signalops_e2e_<role>_<suffix>); yields their URLs."""
    suffix = uuid.uuid4().hex[:10]
    names = [f"signalops_e2e_{role}_{suffix}" for role in roles]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - CI always has PostgreSQL
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required: {exc}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield [f"{base}/{name}" for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
