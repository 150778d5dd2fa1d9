"""Fine-tuning tables: training sets and their posts, fine-tune jobs, and the posts each
registered model was trained on (experiments leave those out of both arms)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalops_assets.db.models import Base, utcnow


class TrainingSet(Base):
    """One written training set: its files (with sha256) and the posts of each split."""

    __tablename__ = "training_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # judge | dpo
    model_type: Mapped[str] = mapped_column(String(20))  # judge | drafter
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TrainingSetPost(Base):
    __tablename__ = "training_set_posts"

    training_set_id: Mapped[int] = mapped_column(
        ForeignKey("training_sets.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), primary_key=True)
    split: Mapped[str] = mapped_column(String(10))  # train | eval


class FineTuneJob(Base):
    """A fine-tune run: local (trained in-process) or remote (a provider job id to poll)."""

    __tablename__ = "fine_tune_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), index=True)
    model_type: Mapped[str] = mapped_column(String(20))
    backend: Mapped[str] = mapped_column(String(20))  # local | litellm
    provider: Mapped[str | None] = mapped_column(String(50))
    base_model: Mapped[str] = mapped_column(String(200))
    training_set_id: Mapped[int] = mapped_column(ForeignKey("training_sets.id"))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    external_job_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    model_id: Mapped[str | None] = mapped_column(String(200))  # the registered result
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class ModelTrainingPost(Base):
    """The posts a registered model was trained on: experiments leave them out of both arms."""

    __tablename__ = "model_training_posts"

    model_registry_id: Mapped[int] = mapped_column(
        ForeignKey("model_registry.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), primary_key=True, index=True)
