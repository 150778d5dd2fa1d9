"""The DPO (drafter) training set as a `training_sets` record, like the judge set: kind `dpo`,
model type `drafter`, pair counts per split and source, the files' paths and sha256, and the
post ids of each split in `training_set_posts`.

The DPO export rewrites its two files whenever reviews arrive, so a set is recorded only when
the files' content differs from the project's latest recorded DPO set: re-exporting the same
pairs adds nothing. The recorded paths are the export's snapshot files (`dpo/train.jsonl` is a
symlink that moves with each export); the export prunes snapshots older than the previous one,
so an old set's files may be gone, while its sha256 still identifies its content.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from signalops_assets.db.session import session_scope
from signalops_assets.db.training_models import TrainingSet, TrainingSetPost
from signalops_assets.fine_tuning.training_sets import sha256_file
from signalops_assets.preferences.export import SPLITS, ExportSummary
from signalops_assets.vocab import ModelType


def record_dpo_training_set(engine: Engine, summary: ExportSummary) -> tuple[int, bool] | None:
    """(training set id, whether this call recorded it) for an export; None when it is empty."""
    if summary.total == 0:
        return None
    files = {
        split: {
            "path": str(summary.path(split).resolve()),
            "sha256": sha256_file(summary.path(split)),
            "rows": summary.counts[split],
        }
        for split in SPLITS
    }
    with session_scope(engine) as session:
        latest = session.scalar(
            select(TrainingSet)
            .where(TrainingSet.project_id == summary.project_id, TrainingSet.kind == "dpo")
            .order_by(TrainingSet.id.desc())
            .limit(1)
        )
        digests = {split: info["sha256"] for split, info in files.items()}
        if (
            latest is not None
            and {split: dict(latest.files).get(split, {}).get("sha256") for split in SPLITS}
            == digests
        ):
            return latest.id, False
        row = TrainingSet(
            project_id=summary.project_id,
            kind="dpo",
            model_type=ModelType.DRAFTER,
            files=files,
            counts={
                **{split: summary.counts[split] for split in SPLITS},
                "posts": dict(summary.posts),
                "sources": dict(summary.sources),
                "duplicates": summary.duplicates,
                "format": summary.fmt,
            },
        )
        session.add(row)
        session.flush()
        # A post whose pairs were drafted from two prompts could sit on both sides: eval wins,
        # so experiments never treat held-out material as trained on.
        split_of = {p: split for split in SPLITS for p in summary.post_ids.get(split, [])}
        session.add_all(
            TrainingSetPost(training_set_id=row.id, post_id=post_id, split=split)
            for post_id, split in split_of.items()
        )
        session.flush()
        return row.id, True
