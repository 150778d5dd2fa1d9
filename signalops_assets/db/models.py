"""Typed SQLAlchemy models: one class per table, named as in the design."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from signalops_assets.vocab import DraftStatus, ExperimentMode, ExperimentStatus

_ONE_ACTIVE = f"status = '{ExperimentStatus.ACTIVE.value}'"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}  # noqa: RUF012


class Project(Base):
    __tablename__ = "projects"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # The judge the project runs outside experiments; `experiment stop --promote` changes it.
    judge_model_override: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("project_id", "platform_id", name="uq_posts_platform"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), index=True)
    platform_id: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(200), default="")
    author_bio: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(index=True)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A human label is a fact about the post; analysis reads it for every judge's judgment.
    human_label: Mapped[str | None] = mapped_column(String(20))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class Judgment(Base):
    __tablename__ = "judgments"
    # judge_key names the judge that produced the row (a model id, or experiment:arm), so a
    # re-run skips posts already judged by the current judge even when a fallback answered.
    # A failed judgment is judged again later; the failure stays as history, `superseded`, and
    # each (post, judge) has at most one current row. Every statistic reads current rows only.
    __table_args__ = (
        Index(
            "uq_judgments_post_judge_current",
            "post_id",
            "judge_key",
            unique=True,
            sqlite_where=text("superseded = false"),
            postgresql_where=text("superseded = false"),
        ),
        Index("ix_judgments_experiment_arm", "experiment_id", "arm"),
        # Per-arm latency quantiles read this index alone (no sort of an arm's rows). `arm`
        # leads so that SQLite keeps using ix_judgments_experiment_arm for the aggregate scans.
        Index("ix_judgments_arm_experiment_latency", "arm", "experiment_id", "latency_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), index=True)
    judge_key: Mapped[str] = mapped_column(String(300))
    label: Mapped[str | None] = mapped_column(String(20))  # NULL when the judgment failed
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    model_id: Mapped[str] = mapped_column(String(200))
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    human_label: Mapped[str | None] = mapped_column(String(20))
    experiment_id: Mapped[str | None] = mapped_column(String(64))
    arm: Mapped[str | None] = mapped_column(String(20))
    # True for the judgment the pipeline acts on (false for a shadow canary's judgment).
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    # 1 for the first judgment of (post, judge), n for the n-th after n-1 failures.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    superseded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Digest of what decides the answer (static prompt, model, parameters): a post is pending
    # for a judge until it has a success of this version. NULL: judged before versions were
    # recorded (kept as done, never reused, since what it was asked is unknown).
    prompt_version: Mapped[str | None] = mapped_column(String(16))
    # Set when an experiment arm took over an existing judgment of its model and prompt version
    # instead of calling the provider again: the original row, which carries the cost.
    reused_from_id: Mapped[int | None] = mapped_column(ForeignKey("judgments.id"))
    # Prompt tokens read from the provider's prompt cache, and written to it (Anthropic).
    cached_tokens: Mapped[int | None] = mapped_column(Integer)
    cache_creation_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Draft(Base):
    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("post_id", "project_id", name="uq_drafts_post"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), index=True)
    judgment_id: Mapped[int | None] = mapped_column(ForeignKey("judgments.id"))
    model_id: Mapped[str] = mapped_column(String(200), default="")
    prompt: Mapped[str] = mapped_column(Text)
    text_generated: Mapped[str] = mapped_column(Text)
    text_final: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=DraftStatus.PENDING.value, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The Langfuse trace and generation that wrote text_generated: review scores land there.
    trace_id: Mapped[str | None] = mapped_column(String(64))
    observation_id: Mapped[str | None] = mapped_column(String(64))


class DraftEvent(Base):
    """Append-only: every draft status change writes one row in the same transaction."""

    __tablename__ = "draft_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # The better text a reviewer gave when rejecting; edits keep theirs on the draft.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelRegistryEntry(Base):
    __tablename__ = "model_registry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    model_type: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    base_model: Mapped[str | None] = mapped_column(String(200))
    training_file: Mapped[str | None] = mapped_column(String(500))
    training_examples: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[str | None] = mapped_column(String(50))
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    # Lineage for models the fine-tune loop produced (None for models registered by hand).
    training_set_id: Mapped[int | None] = mapped_column(ForeignKey("training_sets.id"))


class ABExperiment(Base):
    __tablename__ = "ab_experiments"
    # At most one active experiment per project, enforced by the database (partial unique index).
    __table_args__ = (
        Index(
            "uq_ab_experiments_one_active",
            "project_id",
            unique=True,
            sqlite_where=text(_ONE_ACTIVE),
            postgresql_where=text(_ONE_ACTIVE),
        ),
    )

    experiment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), index=True)
    primary_model: Mapped[str] = mapped_column(String(200))
    canary_model: Mapped[str] = mapped_column(String(200))
    canary_pct: Mapped[float] = mapped_column(Float)
    mode: Mapped[str] = mapped_column(String(10), default=ExperimentMode.SPLIT.value)
    status: Mapped[str] = mapped_column(String(20), default=ExperimentStatus.ACTIVE.value)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    hypothesis: Mapped[str] = mapped_column(Text, default="")
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class ABResult(Base):
    __tablename__ = "ab_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("ab_experiments.experiment_id"))
    judgment_id: Mapped[int] = mapped_column(ForeignKey("judgments.id"), unique=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    arm: Mapped[str] = mapped_column(String(20))
    model_id: Mapped[str] = mapped_column(String(200))
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_ab_results_experiment_arm", "experiment_id", "arm"),)


class ExperimentAnalysis(Base):
    """One row per analysis run, so the trend over nights stays visible."""

    __tablename__ = "experiment_analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("ab_experiments.experiment_id"))
    analyzed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    verdict: Mapped[str] = mapped_column(String(40))
    recommendation: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # 1 for the experiment's first analysis, 2 for the next, ...
    look: Mapped[int] = mapped_column(Integer, default=1)
    # The statistical decision (+1 canary better, -1 worse, 0 none) and when it was first
    # reached: a confidence sequence may be intersected over time, so a decision stands.
    direction: Mapped[int] = mapped_column(Integer, default=0)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_look: Mapped[int | None] = mapped_column(Integer)


class PreferencePair(Base):
    __tablename__ = "preference_pairs"
    # One pair per draft and source: a second collector inserting the same pair hits this.
    __table_args__ = (UniqueConstraint("draft_id", "source", name="uq_preference_pairs_draft"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), index=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    prompt: Mapped[str] = mapped_column(Text)
    chosen: Mapped[str] = mapped_column(Text)
    rejected: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    edit_distance: Mapped[int] = mapped_column(Integer, default=0)
    edit_ratio: Mapped[float] = mapped_column(Float, default=0.0)
    length_delta: Mapped[int] = mapped_column(Integer, default=0)
    filtered: Mapped[bool] = mapped_column(Boolean, default=False)
    filter_reason: Mapped[str | None] = mapped_column(String(60))
    review_decision: Mapped[str | None] = mapped_column("review_verdict", String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CollectorCursor(Base):
    """Last draft event a consumer has processed (the DPO collector)."""

    __tablename__ = "collector_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# The batch-mode and fine-tuning tables live beside this module (batch_models.py,
# training_models.py); importing them here keeps
# `Base.metadata` (Alembic, the schema test) complete whoever imports the models.
import signalops_assets.db.batch_models  # noqa: E402
import signalops_assets.db.training_models  # noqa: E402, F401
