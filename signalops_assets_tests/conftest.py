"""Shared fixtures: isolated environment, SQLite and PostgreSQL databases, fake servers."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

pytest_plugins = [
    "signalops_assets_tests.fakes.openai_server",
    "signalops_assets_tests.fakes.otlp_receiver",
    "signalops_assets_tests.fakes.argilla_server",
]

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "SIGNALOPS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own projects dir and no tracing/Argilla/database env from outside."""
    projects = tmp_path / "projects"
    projects.mkdir()
    shutil.copy(REPO / "data" / "projects" / "spectra.yaml", projects / "spectra.yaml")
    monkeypatch.setenv("SIGNALOPS_PROJECTS_DIR", str(projects))
    for name in (
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "LANGFUSE_BASE_URL",
        "LANGFUSE_HOST",
        "ARGILLA_API_URL",
        "ARGILLA_API_KEY",
        "SIGNALOPS_PROJECT",
        "SIGNALOPS_LLM_API_BASE",
        "ARGILLA_WORKSPACE",
        "LANGFUSE_MASK_CONTENT",
        "LANGFUSE_TRACING_ENABLED",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'signalops.db'}")
    monkeypatch.setenv("SIGNALOPS_EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("SIGNALOPS_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"signalops_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - CI always has PostgreSQL
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from signalops_assets.db.session import cached_engine

    cached_engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    from signalops_assets.db.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Run the test on both databases; SIGNALOPS_DATABASE_URL points at the chosen one."""
    if request.param == "sqlite":
        url = f"sqlite:///{isolated_env / 'signalops.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        from signalops_assets.db.migrate import ensure_schema
        from signalops_assets.db.session import cached_engine

        engine = cached_engine(url)
        ensure_schema(engine)
        _truncate_all(engine)
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", url)
    return url


@pytest.fixture
def engine(db_url: str) -> Engine:
    from signalops_assets.db.migrate import ensure_schema
    from signalops_assets.db.session import cached_engine

    eng = cached_engine(db_url)
    ensure_schema(eng)
    return eng


@pytest.fixture
def sqlite_engine(isolated_env: Path) -> Engine:
    from signalops_assets.db.migrate import ensure_schema
    from signalops_assets.db.session import cached_engine

    eng = cached_engine(f"sqlite:///{isolated_env / 'signalops.db'}")
    ensure_schema(eng)
    return eng


@pytest.fixture
def spectra(engine: Engine):  # type: ignore[no-untyped-def]
    """The sample project loaded with its sample posts."""
    from signalops_assets.config import load_project
    from signalops_assets.db.session import session_scope
    from signalops_assets.posts import ensure_project, import_posts

    cfg = load_project("spectra")
    with session_scope(engine) as session:
        ensure_project(session, cfg)
        import_posts(session, "spectra", REPO / "data" / "sample" / "posts.jsonl")
    return cfg
