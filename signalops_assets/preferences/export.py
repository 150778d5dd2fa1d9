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

from sqlalchemy import Engine, Select, select

from signalops_assets.db.models import Post, PreferencePair
from signalops_assets.db.session import REPO_ROOT
from signalops_assets.errors import SignalOpsError
from signalops_assets.preferences.atomic import atomic_line_writer, jsonl_line
from signalops_assets.preferences.formats import (
    DEFAULT_FORMAT,
    EXPORT_FORMATS,
    ExportFormat,
    build_record,
    prompt_to_messages,
    split_for_post,
)

SPLITS = ("train", "eval")
STREAM_BATCH = 1000  # rows fetched per round trip while streaming the export


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


def exportable_pairs_query(project_id: str) -> Select[int, int, str, str, str, str, str]:
    """The unfiltered pairs of a project with their post's platform id, oldest first, fetched
    in STREAM_BATCH batches (a server-side cursor on PostgreSQL)."""
    return (
        select(
            PreferencePair.id,
            PreferencePair.post_id,
            PreferencePair.prompt,
            PreferencePair.chosen,
            PreferencePair.rejected,
            PreferencePair.source,
            Post.platform_id,
        )
        .join(Post, Post.id == PreferencePair.post_id)
        .where(PreferencePair.project_id == project_id, PreferencePair.filtered.is_(False))
        .order_by(PreferencePair.id)
        .execution_options(yield_per=STREAM_BATCH)
    )


def export_dpo(
    engine: Engine,
    project_id: str,
    out_dir: Path,
    fmt: ExportFormat | str = DEFAULT_FORMAT,
    eval_fraction: float = 0.1,
) -> ExportSummary:
    """Write both files (always both, possibly empty) and return what went where.

    Streamed: rows come in batches of STREAM_BATCH (a server-side cursor on PostgreSQL) and each
    record goes straight to its file's temp file, so memory does not grow with the export.
    """
    if fmt not in EXPORT_FORMATS:
        raise SignalOpsError(f"unknown format '{fmt}' (expected {', '.join(EXPORT_FORMATS)})")
    summary = ExportSummary(project_id, fmt, out_dir)
    posts: dict[str, set[int]] = {split: set() for split in SPLITS}
    query = exportable_pairs_query(project_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Both files are replaced only after the whole read succeeded; any error removes both temps.
    with (
        atomic_line_writer(summary.path("train")) as train,
        atomic_line_writer(summary.path("eval")) as eval_,
        engine.connect() as conn,  # Core rows: a read-only query needs no ORM session
    ):
        writers = {"train": train, "eval": eval_}
        for pair_id, post_id, prompt, chosen, rejected, source, platform_id in conn.execute(query):
            try:
                messages = prompt_to_messages(prompt)
            except ValueError as exc:
                summary.skipped.append(f"pair {pair_id}: {exc}")
                continue
            # The post-id sets double as the split cache: one hash per post, not per pair.
            if post_id in posts["train"]:
                split = "train"
            elif post_id in posts["eval"]:
                split = "eval"
            else:
                split = split_for_post(f"{project_id}/{platform_id}", eval_fraction)
                posts[split].add(post_id)
            writers[split].write(jsonl_line(build_record(messages, chosen, rejected, fmt)))
            summary.sources[source] += 1
    for name in SPLITS:
        summary.counts[name] = writers[name].count
        summary.posts[name] = len(posts[name])
    return summary
