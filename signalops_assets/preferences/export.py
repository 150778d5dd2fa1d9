"""Training-ready DPO files: `<export_dir>/<project>/dpo/{train,eval}.jsonl`.

Only unfiltered pairs are exported, identical pairs once (same post content, same chosen and
rejected after NFC/LF normalization). The split is keyed on the post's normalized content
(`prompt_key`), so crossposts and all pairs of one post land in the same file, stably across
databases. When every post hashed to train and there are at least two distinct posts (and
eval_fraction > 0), the post nearest the eval side goes to eval: an empty eval file is one
`datasets.load_dataset` refuses. The pair is published as one snapshot (`snapshot.py`): a
crash at any moment leaves both previous files or both new ones.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, Select, select

from signalops_assets.db.models import Post, PreferencePair
from signalops_assets.errors import SignalOpsError
from signalops_assets.export_files import LineWriter, atomic_write_lines, export_root, jsonl_line
from signalops_assets.preferences.formats import (
    DEFAULT_FORMAT,
    EXPORT_FORMATS,
    ExportFormat,
    build_record,
    prompt_key,
    prompt_to_messages,
    split_bucket,
)
from signalops_assets.preferences.quality import normalize_review_text
from signalops_assets.preferences.snapshot import snapshot_writer

SPLITS = ("train", "eval")
STREAM_BATCH = 1000  # rows fetched per round trip while streaming the export


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
    duplicates: int = 0  # identical pairs left out (crossposts, repeated reviews)
    moved_to_eval: int = 0  # posts moved so that eval is not empty
    post_ids: dict[str, list[int]] = field(default_factory=dict)  # post ids in each file

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


def _check(fmt: str, eval_fraction: float) -> None:
    if fmt not in EXPORT_FORMATS:
        raise SignalOpsError(f"unknown format '{fmt}' (expected {', '.join(EXPORT_FORMATS)})")
    if not 0.0 <= eval_fraction <= 1.0:
        raise SignalOpsError(f"eval_fraction must be in [0, 1], got {eval_fraction}")


def _records(
    engine: Engine, project_id: str, fmt: str, summary: ExportSummary
) -> Iterator[tuple[str, int, str]]:
    """(post key, post id, JSONL line) per exportable pair, duplicates and unusable prompts
    left out."""
    seen: set[bytes] = set()
    with engine.connect() as conn:  # Core rows: a read-only query needs no ORM session
        for pair_id, post_id, prompt, chosen, rejected, source, _ in conn.execute(
            exportable_pairs_query(project_id)
        ):
            try:
                messages = prompt_to_messages(prompt)
            except ValueError as exc:
                summary.skipped.append(f"pair {pair_id}: {exc}")
                continue
            key = prompt_key(messages)
            chosen, rejected = normalize_review_text(chosen), normalize_review_text(rejected)
            digest = hashlib.sha256(
                "\x00".join((key, chosen, rejected)).encode("utf-8", "surrogatepass")
            ).digest()[:16]
            if digest in seen:
                summary.duplicates += 1
                continue
            seen.add(digest)
            summary.sources[source] += 1
            yield key, int(post_id), jsonl_line(build_record(messages, chosen, rejected, fmt))


class _Splitter:
    """Routes each post's lines to its split. The lines of the train post nearest the eval
    side are held back (one post's worth), so that post can still go to eval at the end."""

    def __init__(self, project_id: str, eval_fraction: float, writers: dict[str, LineWriter]):
        self.project_id, self.fraction, self.writers = project_id, eval_fraction, writers
        self.split: dict[str, str] = {}
        self.held_key: str | None = None
        self.held_bucket = 2.0
        self.held: list[str] = []

    def add(self, key: str, line: str) -> None:
        split = self.split.get(key)
        if split is None:
            bucket = split_bucket(f"{self.project_id}/{key}")
            split = self.split[key] = "eval" if bucket < self.fraction else "train"
            if split == "train" and bucket < self.held_bucket:
                self._release("train")
                self.held_key, self.held_bucket = key, bucket
        if key == self.held_key:
            self.held.append(line)
        else:
            self.writers[split].write(line)

    def finish(self) -> int:
        """Write the held post; to eval when eval would otherwise be empty. Returns 1 if so."""
        move = (
            self.held_key is not None
            and self.fraction > 0
            and self.writers["eval"].count == 0
            and len(self.split) >= 2
        )
        if move and self.held_key is not None:
            self.split[self.held_key] = "eval"
        self._release("eval" if move else "train")
        return int(move)

    def _release(self, split: str) -> None:
        for line in self.held:
            self.writers[split].write(line)
        self.held, self.held_key = [], None


def export_dpo(
    engine: Engine,
    project_id: str,
    out_dir: Path,
    fmt: ExportFormat | str = DEFAULT_FORMAT,
    eval_fraction: float = 0.1,
) -> ExportSummary:
    """Write both files (always both) as one snapshot and return what went where.

    Streamed: rows come in batches of STREAM_BATCH (a server-side cursor on PostgreSQL) and each
    record goes straight to its file in the snapshot being built, so memory does not grow with
    the export (beyond 16 bytes per distinct pair for deduplication, and each exported pair's
    post id, which the training set record keeps per split).
    """
    _check(fmt, eval_fraction)
    summary = ExportSummary(project_id, fmt, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    posts_of: dict[str, set[int]] = {}
    with snapshot_writer(out_dir, tuple(f"{s}.jsonl" for s in SPLITS)) as files:
        writers = {split: files[f"{split}.jsonl"] for split in SPLITS}
        splitter = _Splitter(project_id, eval_fraction, writers)
        for key, post_id, line in _records(engine, project_id, fmt, summary):
            posts_of.setdefault(key, set()).add(post_id)
            splitter.add(key, line)
        summary.moved_to_eval = splitter.finish()
    for name in SPLITS:
        summary.counts[name] = writers[name].count
        summary.posts[name] = sum(1 for s in splitter.split.values() if s == name)
        keys = [k for k, s in splitter.split.items() if s == name]
        summary.post_ids[name] = sorted({p for k in keys for p in posts_of[k]})
    return summary


def export_dpo_file(
    engine: Engine, project_id: str, path: Path, fmt: ExportFormat | str = DEFAULT_FORMAT
) -> ExportSummary:
    """Every exportable pair (train and eval together) in one file, replaced atomically."""
    _check(fmt, 0.0)
    if path.is_dir():
        raise SignalOpsError(f"{path}: is a directory")
    summary = ExportSummary(project_id, fmt, path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    posts: set[str] = set()

    def lines() -> Iterator[str]:
        for key, _, line in _records(engine, project_id, fmt, summary):
            posts.add(key)
            yield line

    summary.counts["train"] = atomic_write_lines(path, lines())
    summary.posts["train"] = len(posts)
    return summary
