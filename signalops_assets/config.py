"""Project configuration: pydantic models loaded from data/projects/<id>.yaml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from signalops_assets.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


def projects_dir() -> Path:
    return Path(os.environ.get("SIGNALOPS_PROJECTS_DIR", REPO_ROOT / "data" / "projects"))


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judge_model: str = "local/keyword-judge"
    draft_model: str = "local/template-drafter"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(400, gt=0)
    fallback_models: list[str] = Field(default_factory=list)
    judge_fallback_model: str | None = None
    max_judge_latency_ms: int = Field(30_000, gt=0)
    max_concurrency: int = Field(16, gt=0, le=512)
    api_base: str | None = None
    timeout_s: float = Field(60.0, gt=0)
    num_retries: int = Field(2, ge=0, le=10)
    # Runs that may judge a post whose judgments keep failing; then it is reported as given up
    # (`signalops judgments retry` still re-judges it on request).
    max_attempts: int = Field(3, ge=1, le=100)


# Keys older configs used in their free-form `llm:` dict, mapped to today's names.
_LEGACY_LLM_KEYS = {
    "model": "judge_model",
    "judge": "judge_model",
    "drafter": "draft_model",
    "draft": "draft_model",
    "fallback_model": "judge_fallback_model",
    "fallbacks": "fallback_models",
    "concurrency": "max_concurrency",
    "base_url": "api_base",
}


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    default_canary_pct: float = Field(0.1, gt=0.0, lt=1.0)


class QualityConfig(BaseModel):
    """DPO pair quality filters, per project."""

    model_config = ConfigDict(extra="forbid")

    min_edit_ratio: float = Field(0.05, ge=0.0, le=1.0)
    drop_identical: bool = True
    max_chars: int = Field(8000, gt=0)
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str
    description: str = ""
    relevance_prompt: str
    positive_signals: list[str] = Field(default_factory=list)
    negative_signals: list[str] = Field(default_factory=list)
    persona: str = ""
    llm: LLMConfig = Field(default_factory=LLMConfig)
    experiments: ExperimentConfig = Field(default_factory=ExperimentConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)

    @field_validator("llm", mode="before")
    @classmethod
    def _accept_legacy_llm(cls, value: Any) -> Any:
        # Old files carried a free-form dict here; keep loading them, dropping unknown keys
        # only when the dict is clearly legacy-shaped (has a legacy key).
        if isinstance(value, dict) and any(k in _LEGACY_LLM_KEYS for k in value):
            known = set(LLMConfig.model_fields)
            mapped: dict[str, Any] = {}
            for key, val in value.items():
                name = _LEGACY_LLM_KEYS.get(key, key)
                if name in known:
                    mapped[name] = (
                        [val] if name == "fallback_models" and isinstance(val, str) else val
                    )
            return mapped
        return value


def _first_error(path: Path, exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "<root>"
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: field '{field}': {err['msg']}{extra}"


def load_project_config(path: Path) -> ProjectConfig:
    """Load and validate one project file; every failure is a one-line ConfigError."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"{path}: project config not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_error(path, exc)) from None


def project_config_path(project_id: str) -> Path:
    return projects_dir() / f"{project_id}.yaml"


def load_project(project_id: str) -> ProjectConfig:
    cfg = load_project_config(project_config_path(project_id))
    if cfg.project_id != project_id:
        raise ConfigError(
            f"{project_config_path(project_id)}: field 'project_id': "
            f"'{cfg.project_id}' does not match the file name"
        )
    return cfg


def configured_project_ids() -> list[str]:
    """SIGNALOPS_PROJECT (comma-separated) if set, else every YAML file in the projects dir."""
    chosen = os.environ.get("SIGNALOPS_PROJECT", "").strip()
    if chosen:
        return [p.strip() for p in chosen.split(",") if p.strip()]
    return sorted(p.stem for p in projects_dir().glob("*.yaml"))
