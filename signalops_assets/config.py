"""Project configuration: pydantic models loaded from data/projects/<id>.yaml."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from signalops_assets.errors import ConfigError, SignalOpsError
from signalops_assets.settings import PROJECT_ID_PATTERN, settings
from signalops_assets.validation import check_text
from signalops_assets.vocab import ExperimentMode

REPO_ROOT = Path(__file__).resolve().parents[1]


def projects_dir() -> Path:
    return settings().projects_dir


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Model ids are stored in String(200) columns (judgments.model_id, drafts.model_id).
    judge_model: str = Field("local/keyword-judge", min_length=1, max_length=200)
    draft_model: str = Field("local/template-drafter", min_length=1, max_length=200)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(400, gt=0)
    fallback_models: list[str] = Field(default_factory=list)
    judge_fallback_model: str | None = None
    max_judge_latency_ms: int = Field(30_000, gt=0)
    max_concurrency: int = Field(16, gt=0, le=512)
    # Processes making the calls of a big run (see llm/processes.py); 1: this process only.
    processes: int = Field(1, ge=1, le=32)
    api_base: str | None = None
    timeout_s: float = Field(60.0, gt=0)
    num_retries: int = Field(2, ge=0, le=10)
    # Runs that may judge a post whose judgments keep failing; then it is reported as given up
    # (`signalops judgments retry` still re-judges it on request).
    max_attempts: int = Field(3, ge=1, le=100)
    # Human-labelled posts shown to prompted judges as worked examples, part of the static
    # (cacheable) prompt prefix; 0: none. Changing it changes the judge's prompt version.
    few_shot: int = Field(0, ge=0, le=50)
    # batch: judged_posts submits pending posts to the provider's batch API (half price, results
    # within 24 h, ingested by llm_batch_sensor); local models always run interactively.
    mode: Literal["interactive", "batch"] = "interactive"
    # A batch item that failed or expired: judged again interactively, or in a new batch.
    batch_retry: Literal["interactive", "resubmit"] = "interactive"
    # OpenAI's limits per batch: 50,000 requests and a 200 MB input file.
    batch_max_requests: int = Field(50_000, ge=1, le=50_000)
    batch_max_bytes: int = Field(200_000_000, ge=1_000, le=200_000_000)


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


class GuardrailConfig(BaseModel):
    """A better canary is promoted only within these limits (None: no limit)."""

    model_config = ConfigDict(extra="forbid")

    # Canary (errors + fallback answers) / judgments minus the primary's.
    max_error_rate_increase: float = Field(0.02, ge=0.0, le=1.0)
    max_p95_latency_ms: float | None = Field(None, gt=0)
    max_cost_per_1k_usd: float | None = Field(None, ge=0)


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    default_canary_pct: float = Field(0.1, gt=0.0, lt=1.0)
    # Smallest agreement difference worth detecting; sizes "labels still needed".
    min_detectable_effect: float = Field(0.05, gt=0.0, lt=1.0)
    alpha: float = Field(0.05, gt=0.0, lt=0.5)
    # No verdict before this many labelled, error-free judgments per arm (pairs in shadow).
    min_labels_per_arm: int = Field(30, ge=1)
    # N* of the confidence sequence: labels (both arms) where it is tightest.
    sequential_tuning_labels: int = Field(2000, ge=10)
    guardrails: GuardrailConfig = Field(default_factory=GuardrailConfig)
    # After a candidate passes its offline gate: start an experiment against it (None: don't).
    auto_start: ExperimentMode | None = None
    # On a promote_canary verdict with guardrails passing: promote (True) or only report.
    auto_promote: bool = False


class FineTuningConfig(BaseModel):
    """The label → training set → fine-tune → offline gate loop."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "litellm"] = "local"
    provider: Literal["openai", "azure", "vertex_ai"] = "openai"  # litellm backend only
    base_model: str = "gpt-4.1-mini-2025-04-14"  # litellm backend only
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    # Held-out share of posts (by a hash of the post), never trained on.
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    min_examples_per_label: int = Field(5, ge=1)
    # The candidate may be at most this much below the current judge on held-out labels.
    gate_margin: float = Field(0.02, ge=0.0, le=1.0)


class QualityConfig(BaseModel):
    """DPO pair quality filters, per project."""

    model_config = ConfigDict(extra="forbid")

    min_edit_ratio: float = Field(0.05, ge=0.0, le=1.0)
    drop_identical: bool = True
    max_chars: int = Field(8000, gt=0)
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)


class ReviewConfig(BaseModel):
    """Human review in Argilla: how many reviewers complete a record (majority when > 1), and
    how many judged posts one push offers for relevance labelling."""

    model_config = ConfigDict(extra="forbid")

    min_submitted: int = Field(1, ge=1, le=20)
    labelling_batch: int = Field(200, gt=0, le=10_000)


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str = Field(pattern=PROJECT_ID_PATTERN)
    name: str = Field(max_length=200)  # projects.name is String(200)
    description: str = ""
    relevance_prompt: str
    positive_signals: list[str] = Field(default_factory=list)
    negative_signals: list[str] = Field(default_factory=list)
    persona: str = ""
    llm: LLMConfig = Field(default_factory=LLMConfig)
    experiments: ExperimentConfig = Field(default_factory=ExperimentConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    fine_tuning: FineTuningConfig = Field(default_factory=FineTuningConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)

    @model_validator(mode="after")
    def _storable_text(self) -> ProjectConfig:
        # The same NUL / unpaired-surrogate check the importers apply, so a config string the
        # database or the provider would choke on fails here, naming its field.
        for name in ("name", "description", "relevance_prompt", "persona"):
            try:
                check_text(getattr(self, name), name)
            except SignalOpsError as exc:
                raise ValueError(str(exc)) from None
        return self

    @field_validator("llm", mode="before")
    @classmethod
    def _accept_legacy_llm(cls, value: Any) -> Any:
        # Old files carried a free-form dict here with other key names; map them. Any other key
        # stays, so that LLMConfig rejects it by name: a typo (`temprature`) is never dropped.
        if isinstance(value, dict) and any(k in _LEGACY_LLM_KEYS for k in value):
            mapped: dict[Any, Any] = {}
            for key, val in value.items():
                name = _LEGACY_LLM_KEYS.get(key, key) if isinstance(key, str) else key
                if name in mapped:
                    raise ValueError(f"'{key}' and another key both set '{name}'")
                mapped[name] = [val] if name == "fallback_models" and isinstance(val, str) else val
            return mapped
        return value


def _first_error(path: Path, exc: ValidationError) -> str:
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err["loc"]) or "<root>"
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    message = " ".join(str(err["msg"]).split())[:200]
    hint = ""
    if err["type"] == "extra_forbidden" and len(err["loc"]) == 2 and err["loc"][0] == "llm":
        close = difflib.get_close_matches(str(err["loc"][1]), list(LLMConfig.model_fields), 1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{path}: field '{name[:100]}': {message}{hint}{extra}"


def _read_text(path: Path) -> str:
    """UTF-8, with or without a BOM; anything else is refused naming the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}: not UTF-8 at line {line} (byte 0x{data[exc.start]:02x})"
        ) from None


def load_project_config(path: Path) -> ProjectConfig:
    """Load and validate one project file; every failure is a one-line ConfigError."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"{path}: project config not found")
    try:
        data = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_error(path, exc)) from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None


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
    chosen = settings().projects
    if chosen:
        return list(chosen)
    return sorted(p.stem for p in projects_dir().glob("*.yaml"))


@dataclass
class ConfiguredProjects:
    """The configured projects that loaded, and one line per project that did not."""

    loaded: list[ProjectConfig] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)

    def failure(self) -> str | None:
        """One line naming every broken project and why, or None when all loaded."""
        if not self.broken:
            return None
        names = ", ".join(sorted(self.broken))
        reasons = "; ".join(self.broken[p] for p in sorted(self.broken))
        return f"{len(self.broken)} project(s) not processed ({names}): {reasons}"


def load_configured_projects() -> ConfiguredProjects:
    """Every configured project, loaded one by one: one project's broken file (or an unknown id
    in SIGNALOPS_PROJECT) never keeps the others from being processed. Callers process
    `loaded`, then fail (or warn) with `failure()`."""
    result = ConfiguredProjects()
    for project_id in configured_project_ids():
        try:
            result.loaded.append(load_project(project_id))
        except ConfigError as exc:
            result.broken[project_id] = str(exc)
    return result
