"""Judgment training data: human-labelled posts as OpenAI chat fine-tuning lines.

Each line is `{"messages": [system, user, assistant]}`. System and user are built by
`judge_messages`, the function every judge (prompted or fine-tuned) sends, from the project's
current config, so a model fine-tuned on this file sees at inference exactly what it saw in
training. The assistant turn is the human label in the JSON the judge parses.

Every human-labelled post with at least one successful judgment in the project gives one
example, whether or not the judge agreed with the human (training only on disagreements would
skew the label mix); `corrected` counts the disagreements. Posts whose judgments all failed are
skipped. The file is replaced atomically: a failed export leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.errors import SignalOpsError
from signalops_assets.export_files import atomic_write_lines, export_root, write_jsonl_atomic
from signalops_assets.judging.prompts import PostInput, judge_messages
from signalops_assets.vocab import LABELS

JUDGMENTS_FILE = "train.jsonl"
HUMAN_REASONING = "human label"


def training_posts_path(path: Path) -> Path:
    """The list of posts an export contains, beside it: `signalops model register
    --training-posts` reads it, so experiments can leave those posts out of both arms."""
    return path.with_name(f"{path.stem}.posts.tsv")


def judgments_path(project_id: str, root: Path | None = None) -> Path:
    """`<export root>/<project>/judgments/train.jsonl`."""
    return (root or export_root()) / project_id / "judgments" / JUDGMENTS_FILE


@dataclass
class JudgmentExportSummary:
    project_id: str
    path: Path
    written: int = 0
    corrected: int = 0  # examples whose judgment disagreed with the human label
    labels: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    platform_ids: list[str] = field(default_factory=list)  # the posts written, in order

    @property
    def posts_path(self) -> Path:
        return training_posts_path(self.path)


def assistant_answer(label: str) -> str:
    """The answer in the schema `parse_judgment` reads: the human label, fully confident."""
    return json.dumps({"label": label, "confidence": 1.0, "reasoning": HUMAN_REASONING})


def training_example(project: ProjectConfig, post: PostInput, label: str) -> dict[str, Any]:
    messages = judge_messages(project, post)
    return {"messages": [*messages, {"role": "assistant", "content": assistant_answer(label)}]}


def prepare_target(path: Path) -> None:
    """Fail with one line before any work when `path` cannot become a file."""
    if path.is_dir():
        raise SignalOpsError(f"{path}: is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SignalOpsError(f"{path.parent}: cannot create directory: {_reason(exc)}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise SignalOpsError(f"{path.parent}: directory is not writable")


def export_judgments(
    engine: Engine, project_id: str, path: Path, project: ProjectConfig | None = None
) -> JudgmentExportSummary:
    """Write the project's examples to `path` (always, possibly empty) and say what was kept."""
    cfg = project or load_project(project_id)
    if cfg.project_id != project_id:
        raise SignalOpsError(f"config is for project {cfg.project_id!r}, not {project_id!r}")
    prepare_target(path)
    summary = JudgmentExportSummary(project_id, path)
    with session_scope(engine) as session:
        rows = session.execute(_judgments_query(project_id).execution_options(yield_per=500))
        try:
            summary.written = write_jsonl_atomic(path, _examples(cfg, rows, summary))
            atomic_write_lines(
                summary.posts_path, (f"{project_id}\t{p}" for p in summary.platform_ids)
            )
        except OSError as exc:
            raise SignalOpsError(f"{path}: cannot write: {_reason(exc)}") from None
    return summary


def _judgments_query(project_id: str) -> Any:
    human = func.coalesce(Judgment.human_label, Post.human_label)
    return (
        select(
            Judgment.post_id,
            Judgment.label,
            Judgment.error,
            human,
            Post.platform_id,
            Post.author,
            Post.author_bio,
            Post.text,
        )
        .join(Post, Post.id == Judgment.post_id)
        .where(
            Judgment.project_id == project_id,
            human.is_not(None),
            Judgment.superseded.is_(False),
        )
        # Per post: a successful judgment first, the acted-on one before a shadow's, the latest.
        .order_by(
            Judgment.post_id,
            Judgment.error.is_not(None),
            Judgment.is_primary.desc(),
            Judgment.id.desc(),
        )
    )


def _examples(
    cfg: ProjectConfig, rows: Any, summary: JudgmentExportSummary
) -> Iterator[dict[str, Any]]:
    last_post: int | None = None
    for post_id, label, error, human, platform_id, author, bio, text in rows:
        if post_id == last_post:
            continue
        last_post = post_id
        human = str(human).strip().lower()
        if error is not None:
            summary.skipped.append(f"post {platform_id}: only failed judgments")
            continue
        if human not in LABELS:
            summary.skipped.append(f"post {platform_id}: human label {human!r} is not a label")
            continue
        summary.labels[human] += 1
        summary.corrected += label != human
        summary.platform_ids.append(platform_id)
        post = PostInput(post_id, platform_id, author or "", bio or "", text or "")
        yield training_example(cfg, post, human)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
