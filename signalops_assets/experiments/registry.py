"""Model registry: the judges and drafters we have trained or deployed, and which are active."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from signalops_assets.db.models import ABExperiment, ModelRegistryEntry, Post
from signalops_assets.db.training_models import ModelTrainingPost
from signalops_assets.errors import NotFoundError, SignalOpsError
from signalops_assets.vocab import ModelType, values

# LiteLLM provider prefixes we deploy through; `local` is the offline custom provider.
PROVIDERS = (
    "openai",
    "anthropic",
    "azure",
    "bedrock",
    "vertex_ai",
    "gemini",
    "together_ai",
    "fireworks_ai",
    "ollama",
    "local",
    "litellm_proxy",
)
MODEL_TYPES = values(ModelType)

# Bare model names LiteLLM routes without a prefix, by how they start.
_BARE_PREFIXES = {
    "ft:": "openai",
    "gpt-": "openai",
    "o1": "openai",
    "o3": "openai",
    "o4": "openai",
    "chatgpt-": "openai",
    "claude-": "anthropic",
    "gemini-": "gemini",
}


def guess_provider(model_id: str) -> str:
    """The provider a LiteLLM model id routes to: its `provider/` prefix, else a known bare
    name; anything else is assumed to go through a LiteLLM proxy."""
    prefix, sep, _ = model_id.partition("/")
    if sep and prefix in PROVIDERS:
        return prefix
    for start, provider in _BARE_PREFIXES.items():
        if model_id.startswith(start):
            return provider
    return "litellm_proxy"


def get_model(session: Session, model_id: str) -> ModelRegistryEntry | None:
    return session.scalar(select(ModelRegistryEntry).where(ModelRegistryEntry.model_id == model_id))


def require_model(session: Session, model_id: str) -> ModelRegistryEntry:
    entry = get_model(session, model_id)
    if entry is None:
        raise NotFoundError(f"unknown model '{model_id}' (see `signalops model list`)")
    return entry


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SignalOpsError(f"unknown {name} '{value}' (one of: {', '.join(allowed)})")
    return value


def register_model(
    session: Session,
    model_id: str,
    provider: str,
    model_type: str,
    *,
    display_name: str = "",
    base_model: str | None = None,
    version: str | None = None,
    training_file: str | None = None,
    training_examples: int | None = None,
) -> ModelRegistryEntry:
    """A new active registry entry; every invalid input is a one-line error, nothing written."""
    model_id = model_id.strip()
    if not model_id:
        raise SignalOpsError("model id must not be empty")
    _check_choice("provider", provider, PROVIDERS)
    _check_choice("model type", model_type, MODEL_TYPES)
    if training_examples is not None and training_examples < 0:
        raise SignalOpsError(f"training examples must be >= 0, got {training_examples}")
    if get_model(session, model_id) is not None:
        raise SignalOpsError(f"model '{model_id}' is already registered")
    entry = ModelRegistryEntry(
        model_id=model_id,
        provider=provider,
        model_type=model_type,
        display_name=display_name or model_id,
        base_model=base_model,
        version=version,
        training_file=training_file,
        training_examples=training_examples,
        is_active=True,
    )
    session.add(entry)
    try:
        session.flush()
    except IntegrityError:  # registered concurrently since the check above
        session.rollback()
        raise SignalOpsError(f"model '{model_id}' is already registered") from None
    return entry


def list_models(
    session: Session, model_type: str | None = None, active_only: bool = False
) -> list[ModelRegistryEntry]:
    stmt = select(ModelRegistryEntry).order_by(
        ModelRegistryEntry.model_type, ModelRegistryEntry.model_id
    )
    if model_type is not None:
        _check_choice("model type", model_type, MODEL_TYPES)
        stmt = stmt.where(ModelRegistryEntry.model_type == model_type)
    if active_only:
        stmt = stmt.where(ModelRegistryEntry.is_active.is_(True))
    return list(session.scalars(stmt))


def set_active(session: Session, model_id: str, active: bool) -> ModelRegistryEntry:
    """Activate or deactivate; doing it twice is harmless. A model that is an arm of an active
    experiment cannot be deactivated (it would keep receiving that experiment's traffic):
    pause or stop the experiment first."""
    entry = require_model(session, model_id)
    if not active:
        busy = session.scalar(
            select(ABExperiment.experiment_id).where(
                ABExperiment.status == "active",
                (ABExperiment.primary_model == model_id) | (ABExperiment.canary_model == model_id),
            )
        )
        if busy is not None:
            raise SignalOpsError(
                f"model '{model_id}' is an arm of active experiment {busy}: pause or stop it "
                "first (signalops experiment pause|stop)"
            )
    entry.is_active = active
    session.flush()
    return entry


def read_training_posts(session: Session, path: Path) -> list[int]:
    """Post ids from a training-posts file: one post per line, either a database post id or
    `project_id<TAB>platform_id` (what `export training-data --type judgments` writes next to
    its JSONL). Every bad line is a one-line error naming the line; nothing is written."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SignalOpsError(f"{path}: cannot read training posts: {exc}") from None
    ids: list[int] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if "\t" in raw:
            project_id, _, platform_id = raw.partition("\t")
            post_id = session.scalar(
                select(Post.id).where(
                    Post.project_id == project_id.strip(), Post.platform_id == platform_id.strip()
                )
            )
        elif line.isdigit() and len(line) < 19:
            post_id = session.scalar(select(Post.id).where(Post.id == int(line)))
        else:
            raise SignalOpsError(
                f"{path}:{number}: expected a post id or project<TAB>platform_id, got {line[:60]!r}"
            )
        if post_id is None:
            raise SignalOpsError(f"{path}:{number}: no such post {line[:60]!r}")
        ids.append(post_id)
    return sorted(set(ids))


def set_training_posts(session: Session, entry: ModelRegistryEntry, post_ids: list[int]) -> int:
    """Record the posts `entry` was trained on (replacing any earlier list)."""
    session.query(ModelTrainingPost).filter(ModelTrainingPost.model_registry_id == entry.id).delete(
        synchronize_session=False
    )
    session.add_all(ModelTrainingPost(model_registry_id=entry.id, post_id=p) for p in post_ids)
    session.flush()
    return len(post_ids)


def training_post_count(session: Session, entry: ModelRegistryEntry) -> int:
    from sqlalchemy import func

    return int(
        session.scalar(select(func.count()).where(ModelTrainingPost.model_registry_id == entry.id))
        or 0
    )
