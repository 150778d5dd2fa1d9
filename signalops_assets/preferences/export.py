"""Training-ready DPO files: `<export_dir>/<project>/dpo/{train,eval}.jsonl`.

Only unfiltered pairs are exported. The split is by post (`split_for_post` on the project and
the post's platform id, stable across databases), so all pairs of one post land in the same
file. Each file is replaced atomically: a crash mid-export leaves the previous file intact.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select

from signalops_assets.db.models import Post, PreferencePair
from signalops_assets.db.session import REPO_ROOT, session_scope
from signalops_assets.errors import SignalOpsError
from signalops_assets.preferences.atomic import write_jsonl_atomic
from signalops_assets.preferences.formats import (
    DEFAULT_FORMAT,
    EXPORT_FORMATS,
    ExportFormat,
    build_record,
    prompt_to_messages,
    split_for_post,
)

SPLITS = ("train", "eval")


def export_root() -> Path:
    """SIGNALOPS_EXPORT_DIR, else data/exports in the repository."""
    configured = os.environ.get("SIGNALOPS_EXPORT_DIR", "").strip()
    return Path(configured) if configured else REPO_ROOT / "data" / "exports"


def dpo_dir(project_id: str, root: Path | None = None) -> Path:
    return (root or export_root()) / project_id / "dpo"


@dataclass
class ExportSummary:
    project_id: str
    fmt: str
    out_dir: Path
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    posts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    sources: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)  # pairs whose stored prompt is unusable

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def path(self, split: str) -> Path:
        return self.out_dir / f"{split}.jsonl"


def export_dpo(
    engine: Engine,
    project_id: str,
    out_dir: Path,
    fmt: ExportFormat | str = DEFAULT_FORMAT,
    eval_fraction: float = 0.1,
) -> ExportSummary:
    """Write both files (always both, possibly empty) and return what went where."""
    if fmt not in EXPORT_FORMATS:
        raise SignalOpsError(f"unknown format '{fmt}' (expected {', '.join(EXPORT_FORMATS)})")
    summary = ExportSummary(project_id, fmt, out_dir)
    records: dict[str, list[dict[str, object]]] = {split: [] for split in SPLITS}
    posts: dict[str, set[int]] = {split: set() for split in SPLITS}
    with session_scope(engine) as session:
        rows = session.execute(
            select(PreferencePair, Post.platform_id)
            .join(Post, Post.id == PreferencePair.post_id)
            .where(PreferencePair.project_id == project_id, PreferencePair.filtered.is_(False))
            .order_by(PreferencePair.id)
        ).all()
    for pair, platform_id in rows:
        try:
            messages = prompt_to_messages(pair.prompt)
        except ValueError as exc:
            summary.skipped.append(f"pair {pair.id}: {exc}")
            continue
        split = split_for_post(f"{project_id}/{platform_id}", eval_fraction)
        records[split].append(build_record(messages, pair.chosen, pair.rejected, fmt))
        posts[split].add(pair.post_id)
        summary.sources[pair.source] += 1
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        summary.counts[name] = write_jsonl_atomic(summary.path(name), records[name])
        summary.posts[name] = len(posts[name])
    return summary
