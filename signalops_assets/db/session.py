"""Engine and session helpers. SIGNALOPS_DATABASE_URL selects the database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE_PATH = REPO_ROOT / "data" / "signalops.db"


DATABASE_URL_ENV = "SIGNALOPS_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    """The explicit URL, else SIGNALOPS_DATABASE_URL, else (only when that variable is unset)
    the embedded SQLite file. Set but empty is an error: a CI secret that did not reach the job
    must not silently export the checkout's own database."""
    if explicit and explicit.strip():
        return explicit.strip()
    configured = os.environ.get(DATABASE_URL_ENV)
    if configured is None:
        return f"sqlite:///{DEFAULT_SQLITE_PATH}"
    if not configured.strip():
        from signalops_assets.errors import ConfigError

        raise ConfigError(
            f"{DATABASE_URL_ENV} is set but empty; set a database URL or unset it to use "
            f"the embedded SQLite database ({DEFAULT_SQLITE_PATH})"
        )
    return configured.strip()


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and Dagster metadata."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database url>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the Dagster UI read while a run writes; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=8)
def cached_engine(url: str) -> Engine:
    return make_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
