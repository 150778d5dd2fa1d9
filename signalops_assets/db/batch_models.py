"""Batch-mode tables (llm.mode: batch): provider batch jobs and the requests each holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalops_assets.db.models import Base, utcnow


class LLMBatch(Base):
    """A provider batch job (llm.mode: batch): one model, up to the provider's request limit.
    Open until its results are ingested (`closed_at`); its items say which posts it holds."""

    __tablename__ = "llm_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), index=True)
    # NULL between our commit and the provider's answer: a crash there leaves it recoverable.
    batch_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))  # as the judge names it (LiteLLM id)
    input_file_id: Mapped[str | None] = mapped_column(String(200))
    output_file_id: Mapped[str | None] = mapped_column(String(200))
    error_file_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="submitting", index=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(index=True)
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class LLMBatchItem(Base):
    """One request of a batch: the post and the judgment it will become. `state`: open (at the
    provider), retry (failed; to judge interactively), done, resubmitted, failed (given up),
    cancelled (released: pending again)."""

    __tablename__ = "llm_batch_items"
    __table_args__ = (Index("ix_llm_batch_items_post_judge", "post_id", "judge_key", "state"),)

    batch_row_id: Mapped[int] = mapped_column(
        ForeignKey("llm_batches.id", ondelete="CASCADE"), primary_key=True
    )
    custom_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    judge_key: Mapped[str] = mapped_column(String(300))
    experiment_id: Mapped[str | None] = mapped_column(String(64))
    arm: Mapped[str | None] = mapped_column(String(20))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)
    # The prompt version the request was built with (the judgment records it), and whether it
    # carried a JSON schema (the answer is then parsed strictly).
    prompt_version: Mapped[str | None] = mapped_column(String(16))
    structured: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="open")
    error: Mapped[str | None] = mapped_column(Text)
