"""Judge training sets as first-class records: files with a held-out eval split, recorded in
`training_sets` (counts, paths, sha256) with the post ids of each split in
`training_set_posts`.

Examples are human-labelled posts in the judge's own prompt format (`judge_messages`, what every
judge sends). The assistant answer carries the human label, and the reasoning and confidence
of a logged LLM judgment only where that judgment agreed with the human: a constant
"confidence 1.0, reasoning: human label" would be learned as a constant.

The split is by a hash of the post's normalised content (author and text), so a crosspost of
the same text under another platform id cannot land on both sides.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, select

from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.db.training_models import TrainingSet, TrainingSetPost
from signalops_assets.errors import SignalOpsError
from signalops_assets.export_files import write_jsonl_atomic
from signalops_assets.judging.ab import assignment_unit
from signalops_assets.judging.prompts import PostInput, judge_messages
from signalops_assets.vocab import LABELS, ModelType


def content_key(author: str, text: str) -> str:
    """What identifies a post's content across crossposts: NFKC, casefolded, spaces collapsed."""
    normal = unicodedata.normalize("NFKC", f"{author}\x00{text}").casefold()
    return re.sub(r"\s+", " ", normal).strip()


def eval_split(project_id: str, author: str, text: str, eval_fraction: float) -> str:
    unit = assignment_unit(f"judge-eval:{project_id}", content_key(author, text))
    return "eval" if unit < eval_fraction else "train"


def answer(label: str, agreeing: tuple[float, str] | None) -> str:
    if agreeing is None:
        return json.dumps({"label": label})
    confidence, reasoning = agreeing
    return json.dumps({"label": label, "confidence": confidence, "reasoning": reasoning})


@dataclass
class TrainingSetSummary:
    training_set_id: int
    project_id: str
    paths: dict[str, Path]
    counts: dict[str, Any] = field(default_factory=dict)


def training_set_dir(project_id: str, root: Path | None = None) -> Path:
    from signalops_assets.export_files import export_root

    return (root or export_root()) / project_id / "judge_training_set"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _labelled(session: Any, project_id: str) -> list[tuple[Post, tuple[float, str] | None]]:
    """Labelled posts, each with the confidence and reasoning of its latest error-free
    judgment that agreed with the human label (None when no judgment agreed)."""
    posts = list(
        session.scalars(
            select(Post)
            .where(Post.project_id == project_id, Post.human_label.is_not(None))
            .order_by(Post.id)
        )
    )
    agreeing: dict[int, tuple[float, str]] = {}
    rows = session.execute(
        select(Judgment.post_id, Judgment.confidence, Judgment.reasoning)
        .join(Post, Post.id == Judgment.post_id)
        .where(
            Post.project_id == project_id,
            Judgment.error.is_(None),
            and_(Post.human_label.is_not(None), Judgment.label == Post.human_label),
        )
        .order_by(Judgment.id)
    )
    for post_id, confidence, reasoning in rows:
        agreeing[post_id] = (float(confidence), str(reasoning or "")[:500])
    return [(p, agreeing.get(p.id)) for p in posts]


def build_judge_training_set(
    engine: Engine,
    project_id: str,
    *,
    root: Path | None = None,
    project: ProjectConfig | None = None,
) -> TrainingSetSummary:
    """Write train.jsonl and eval.jsonl and record them; too few examples of a label is a
    one-line error with nothing written."""
    cfg = project or load_project(project_id)
    ft = cfg.fine_tuning
    with session_scope(engine) as session:
        examples: dict[str, list[dict[str, Any]]] = {"train": [], "eval": []}
        splits: dict[int, str] = {}
        labels: dict[str, Counter[str]] = {"train": Counter(), "eval": Counter()}
        with_reasoning = 0
        for post, agreeing in _labelled(session, project_id):
            label = str(post.human_label).strip().lower()
            if label not in LABELS:
                continue
            split = eval_split(project_id, post.author or "", post.text or "", ft.eval_fraction)
            inp = PostInput(post.id, post.platform_id, post.author, post.author_bio, post.text)
            messages = judge_messages(cfg, inp)
            messages.append({"role": "assistant", "content": answer(label, agreeing)})
            examples[split].append({"messages": messages})
            splits[post.id] = split
            labels[split][label] += 1
            with_reasoning += agreeing is not None
        short = [
            f"{label}: {labels['train'][label]}"
            for label in LABELS
            if labels["train"][label] + labels["eval"][label] > 0
            and labels["train"][label] < ft.min_examples_per_label
        ]
        if not labels["train"] or short:
            raise SignalOpsError(
                f"{project_id}: too few training examples per label (need "
                f"{ft.min_examples_per_label}; have {', '.join(short) or 'none'}); label more "
                "posts (signalops judgments label / import-labels)"
            )
        if not examples["eval"]:
            raise SignalOpsError(
                f"{project_id}: no held-out posts (eval_fraction {ft.eval_fraction}); label more"
            )
        out = training_set_dir(project_id, root)
        out.mkdir(parents=True, exist_ok=True)
        row = TrainingSet(project_id=project_id, kind="judge", model_type=ModelType.JUDGE, files={})
        session.add(row)
        session.flush()
        paths = {split: out / f"{row.id:05d}-{split}.jsonl" for split in ("train", "eval")}
        files: dict[str, Any] = {}
        for split, path in paths.items():
            rows_written = write_jsonl_atomic(path, examples[split])
            files[split] = {"path": str(path), "sha256": sha256_file(path), "rows": rows_written}
        row.files = files
        row.counts = {
            "train": dict(labels["train"]),
            "eval": dict(labels["eval"]),
            "with_judge_reasoning": with_reasoning,
        }
        session.add_all(
            TrainingSetPost(training_set_id=row.id, post_id=post_id, split=split)
            for post_id, split in splits.items()
        )
        session.flush()
        return TrainingSetSummary(row.id, project_id, paths, dict(row.counts))


def split_post_ids(session: Any, training_set_id: int, split: str) -> list[int]:
    return list(
        session.scalars(
            select(TrainingSetPost.post_id)
            .where(
                TrainingSetPost.training_set_id == training_set_id, TrainingSetPost.split == split
            )
            .order_by(TrainingSetPost.post_id)
        )
    )


def require_training_set(session: Any, training_set_id: int) -> TrainingSet:
    row = session.get(TrainingSet, training_set_id)
    if row is None:
        raise SignalOpsError(f"unknown training set {training_set_id}")
    return row  # type: ignore[no-any-return]
