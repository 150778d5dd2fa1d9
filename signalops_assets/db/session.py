"""Engine and session helpers. SIGNALOPS_DATABASE_URL selects the database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from signalops_assets.db import guards
from signalops_assets.errors import ConfigError
from signalops_assets.redaction import redact_url

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE_PATH = REPO_ROOT / "data" / "signalops.db"
SUPPORTED_DIALECTS = ("sqlite", "postgresql")
guards.install()  # every session checks lengths, NUL and encodings before it writes


DATABASE_URL_ENV = "SIGNALOPS_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    """The explicit URL, else SIGNALOPS_DATABASE_URL, else (only when that variable is unset)
    the embedded SQLite file; set but empty is an error (see settings)."""
    from signalops_assets.settings import settings

    if explicit and explicit.strip():
        return explicit.strip()
    url = settings().database_url
    if url == "":
        from signalops_assets.errors import ConfigError

        raise ConfigError(
            f"{DATABASE_URL_ENV} is set but empty; set a database URL or unset it to use "
            f"the embedded SQLite database ({DEFAULT_SQLITE_PATH})"
        )
    return url or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def parse_url(url: str) -> URL:
    """The URL parsed, or a one-line ConfigError: unparseable, or not SQLite/PostgreSQL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"database URL {redact_url(url)!r} cannot be parsed") from None
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise ConfigError(
            f"database URL: unsupported database '{parsed.get_backend_name()}' "
            "(use sqlite:///PATH or postgresql+psycopg2://user@host/db)"
        )
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL or an in-memory SQLite database."""
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database or ""
    if url.query.get("uri") in ("true", "1") and name.startswith("file:"):
        if "mode=memory" in name:
            return None
        name = name[len("file:") :].split("?", 1)[0]
    return None if name in ("", ":memory:") else Path(name)


def _mkdir_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"database file {path}: cannot create its directory: {exc.strerror or exc}"
        ) from None


def _writable(path: Path) -> bool:
    """Whether SQLite can write the file and its -wal/-shm files beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _read_only_sqlite_url(path: Path) -> str:
    """SQLite reads a WAL database only if it can create its -shm file, or one exists. In a
    directory it cannot write and without one, `immutable=1` is the documented way to read."""
    shm = path.with_name(path.name + "-shm")
    mode = "mode=ro" if shm.exists() or os.access(path.parent, os.W_OK) else "immutable=1"
    return f"sqlite:///file:{path.resolve()}?{mode}&uri=true"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the Dagster UI read while a run writes; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """An engine for the URL. A SQLite file (and its directory) is created on first write;
    a SQLite file this process cannot write is opened read-only, so read commands still work.
    Unsupported or unusable URLs are one-line ConfigErrors."""
    url = database_url(url)
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() != "sqlite":
            return create_engine(parsed, pool_pre_ping=True)
        path = sqlite_file(parsed)
        if path is not None and path.is_dir():
            raise ConfigError(f"database file {path} is a directory")
        if path is not None and path.exists() and not _writable(path):
            engine = create_engine(_read_only_sqlite_url(path), connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_read_only_pragmas)
            return engine
        if path is not None:
            _mkdir_parent(path)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    except ImportError as exc:  # e.g. postgresql+asyncpg without asyncpg installed
        raise ConfigError(
            f"database URL {redact_url(url)!r}: driver not installed ({exc.name or exc})"
        ) from None
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:  # a URL option of the wrong type: ?timeout=x
        raise ConfigError(f"database URL {redact_url(url)!r}: {exc}") from None
    except Exception as exc:  # sqlalchemy's NoSuchModuleError, ArgumentError and the like
        if not type(exc).__module__.startswith("sqlalchemy"):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"database URL {redact_url(url)!r}: {first}") from None


def open_app_engine(*, create: bool = False) -> Engine:
    """The engine the CLI uses. An in-memory SQLite database is refused (everything would be
    lost on exit), and a SQLite file that does not exist is only created when `create` is set
    (by `signalops db upgrade`): a mistyped path never silently starts a new database."""
    url = database_url()
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is None:
            raise ConfigError(
                "SIGNALOPS_DATABASE_URL: an in-memory SQLite database would be lost when the "
                "command exits; give a file (sqlite:///PATH)"
            )
        if not create and not path.exists():
            raise ConfigError(
                f"database file {path} does not exist: run `signalops db upgrade` to create it "
                "(or check SIGNALOPS_DATABASE_URL)"
            )
    return cached_engine(url)


@lru_cache(maxsize=8)
def cached_engine(url: str) -> Engine:
    return make_engine(url)


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
