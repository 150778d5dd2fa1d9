"""The one reader of the SIGNALOPS_* environment variables.

`settings()` reads the environment each time it is called (never at import, so a test or a
process that changes a variable sees the change) and returns a frozen object. A wrong value is a
one-line `SettingsError` naming the variable. Standard library only: the CLI, the logic modules
and the Dagster wiring all read their settings through here.

The Dagster resources pass `EnvVar("SIGNALOPS_DATABASE_URL")` / `EnvVar("SIGNALOPS_LLM_API_BASE")`
to Dagster itself (a resolved value would land in the repository snapshot the UI shows); the
same variables are still validated here when the app opens the database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from signalops_assets.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?LW#]+$")


class SettingsError(ConfigError):
    """A SIGNALOPS_* variable has a value the app cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    projects: tuple[str, ...]
    projects_dir: Path
    export_dir: Path
    llm_api_base: str | None
    analysis_cron: str
    sensor_interval_s: int
    export_max_lag_s: int
    partitioned: bool
    partitions_start: str
    executor: str
    models_dir: Path
    max_failure_rate: float


def _bad(name: str, raw: str, why: str) -> SettingsError:
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    return SettingsError(f"{name}={shown!r}: {why}")


def _get(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "")
    if "\x00" in raw:
        raise _bad(name, raw.replace("\x00", "\\0"), "contains a NUL character")
    return raw.strip()


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = _get(env, name).lower()
    if raw in {"", "0", "false", "no", "off"}:
        return False
    if raw in {"1", "true", "yes", "on"}:
        return True
    raise _bad(name, raw, "expected 1/0, true/false, yes/no or on/off")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(env, name)
    if not raw:
        return default
    if not re.fullmatch(r"[+-]?\d{1,12}", raw):
        raise _bad(name, raw, "expected a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise _bad(name, raw, f"must be between {low} and {high}")
    return value


def _projects(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _get(env, "SIGNALOPS_PROJECT")
    ids = tuple(p.strip() for p in raw.split(",") if p.strip())
    for pid in ids:
        if not re.fullmatch(PROJECT_ID_PATTERN, pid):
            raise _bad(
                "SIGNALOPS_PROJECT",
                raw,
                f"{pid!r} is not a project id (lowercase letters, digits, '-', '_')",
            )
    return ids


def _date(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _get(env, name) or default
    try:
        date.fromisoformat(raw)
    except ValueError:
        raise _bad(name, raw, "expected a date YYYY-MM-DD") from None
    return raw


def _cron(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _get(env, name) or default
    fields = raw.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise _bad(name, raw, "expected a 5-field cron expression such as '0 2 * * *'")
    return raw


def _choice(env: Mapping[str, str], name: str, allowed: dict[str, str]) -> str:
    raw = _get(env, name).lower()
    if raw not in allowed:
        raise _bad(name, raw, f"expected one of {', '.join(sorted(k for k in allowed if k))}")
    return allowed[raw]


def _url(env: Mapping[str, str], name: str) -> str | None:
    raw = _get(env, name)
    if raw and not re.match(r"^https?://[^\s/]+", raw):
        raise _bad(name, raw, "expected an http:// or https:// URL")
    return raw or None


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _bad(name, raw, "expected a fraction such as 0.05") from None
    if not 0.0 <= value <= 1.0:
        raise _bad(name, raw, "must be between 0 and 1")
    return value


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = _get(env, name)
    return Path(raw) if raw else default


def _database_url(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "SIGNALOPS_DATABASE_URL")
    if not raw and "SIGNALOPS_DATABASE_URL" in env:
        # Set but empty: "" (not None), so `db.session.database_url` refuses it when a database
        # is actually opened (a CI secret that did not reach the job must not silently use the
        # checkout's SQLite), while code that never opens one still loads.
        return ""
    if raw and "://" not in raw:
        raise _bad(
            "SIGNALOPS_DATABASE_URL",
            raw,
            "expected a URL such as sqlite:///PATH or postgresql+psycopg2://user@host/db",
        )
    return raw or None


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Every SIGNALOPS_* setting, read from the environment now."""
    env = os.environ if environ is None else environ
    return Settings(
        database_url=_database_url(env),
        projects=_projects(env),
        projects_dir=_path(env, "SIGNALOPS_PROJECTS_DIR", REPO_ROOT / "data" / "projects"),
        export_dir=_path(env, "SIGNALOPS_EXPORT_DIR", REPO_ROOT / "data" / "exports"),
        models_dir=_path(env, "SIGNALOPS_MODELS_DIR", REPO_ROOT / "data" / "models"),
        max_failure_rate=_fraction(env, "SIGNALOPS_MAX_FAILURE_RATE", 0.05),
        llm_api_base=_url(env, "SIGNALOPS_LLM_API_BASE"),
        analysis_cron=_cron(env, "SIGNALOPS_ANALYSIS_CRON", "0 2 * * *"),
        sensor_interval_s=_int(env, "SIGNALOPS_SENSOR_INTERVAL_S", 30, 1, 86_400),
        export_max_lag_s=_int(env, "SIGNALOPS_EXPORT_MAX_LAG_S", 900, 1, 7 * 86_400),
        partitioned=_flag(env, "SIGNALOPS_PARTITIONED"),
        partitions_start=_date(env, "SIGNALOPS_PARTITIONS_START", "2026-10-01"),
        executor=_choice(
            env,
            "SIGNALOPS_EXECUTOR",
            {
                "": "in_process",
                "default": "in_process",
                "in_process": "in_process",
                "multiprocess": "multiprocess",
                "forkserver": "forkserver",
                "celery": "celery",
            },
        ),
    )
