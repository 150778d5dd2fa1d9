"""Relevance labelling in Argilla: judged posts go to reviewers with the judge's answer as a
suggestion, and their labels come back through `judging.labels` (so they land on the post and
every judgment of it, and become `human_label` Langfuse scores, like any other label).

Dataset `<project>-relevance-labels`: field `post` (with the author line), question `label`
(relevant / irrelevant / maybe) carrying the judge's label as an `rg.Suggestion` (score =
confidence, agent = model id), hidden metadata `post_id`. Records complete after
`review.min_submitted` submissions (`rg.TaskDistribution`); with several reviewers the majority
decides and a tie or too few submissions changes nothing yet. Record ids are a hash of
(project, platform id), so pushing again never duplicates.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from signalops_assets.argilla import client as adapter
from signalops_assets.argilla.client import ArgillaDatasetMissing, ArgillaError
from signalops_assets.argilla.settings import ArgillaSettings
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.acted_on import acted_on_judgment_ids
from signalops_assets.judging.labels import label_post
from signalops_assets.vocab import LABELS

FIELD_POST: Final = "post"
QUESTION_LABEL: Final = "label"
META_POST_ID: Final = "post_id"
GUIDELINES: Final = (
    "Is this post relevant to the product: worth a reply from the team? The judge's answer is "
    "pre-filled as a suggestion; correct it when it is wrong. 'maybe' is for posts a "
    "reasonable teammate could go either way on."
)


@dataclass(frozen=True)
class PostForLabelling:
    post_id: int
    project_id: str
    platform_id: str
    author: str
    text: str
    judge_label: str
    confidence: float
    model_id: str


@dataclass
class LabelSyncSummary:
    records_read: int = 0
    applied: int = 0
    unchanged: int = 0
    pending: int = 0  # fewer submissions than min_submitted
    tied: int = 0
    dataset_missing: bool = False


def labelling_dataset_name(project_id: str) -> str:
    return f"{project_id}-relevance-labels"


def label_record_id(post: PostForLabelling) -> str:
    digest = hashlib.sha256(f"{post.project_id}:{post.platform_id}".encode()).hexdigest()
    return f"post-{digest[:24]}"


def build_label_record(post: PostForLabelling) -> dict[str, Any]:
    """The record as plain data (no SDK): id, fields, metadata and the judge's suggestion."""
    return {
        "id": label_record_id(post),
        "fields": {FIELD_POST: f"Author: {post.author}\n\n{post.text}"},
        "metadata": {META_POST_ID: post.post_id},
        "suggestion": {
            "question_name": QUESTION_LABEL,
            "value": post.judge_label,
            "score": round(post.confidence, 4),
            "agent": post.model_id,
        },
    }


def majority_label(labels: list[str], min_submitted: int) -> str | None:
    """The label most reviewers gave, once at least `min_submitted` did; None on a tie."""
    if len(labels) < min_submitted or not labels:
        return None
    counts = Counter(labels).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None
    return counts[0][0]


def posts_for_labelling(session: Session, project_id: str, limit: int) -> list[PostForLabelling]:
    """Posts without a human label, with the judgment the pipeline acted on, oldest first."""
    latest = acted_on_judgment_ids(project_id)
    rows = session.execute(
        select(Post, Judgment)
        .join(Judgment, Judgment.post_id == Post.id)
        .join(latest, latest.c.judgment_id == Judgment.id)
        .where(Post.human_label.is_(None))
        .order_by(Post.id)
        .limit(limit)
    ).all()
    return [
        PostForLabelling(
            post.id,
            project_id,
            post.platform_id,
            post.author,
            post.text,
            judgment.label,
            judgment.confidence,
            judgment.model_id,
        )
        for post, judgment in rows
        if judgment.label is not None  # error-free by the query; NULL only for failures
    ]


def _settings(rg: Any, client: Any, min_submitted: int) -> Any:
    return rg.Settings(
        guidelines=GUIDELINES,
        allow_extra_metadata=False,
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
        fields=[rg.TextField(name=FIELD_POST, title="Post", client=client)],
        questions=[
            rg.LabelQuestion(
                name=QUESTION_LABEL,
                title="Relevant to the product?",
                labels=list(LABELS),
                required=True,
                client=client,
            )
        ],
        metadata=[
            rg.IntegerMetadataProperty(
                name=META_POST_ID, title="Post id", visible_for_annotators=False, client=client
            )
        ],
    )


def push_for_labelling(
    engine: Engine, project_id: str, settings: ArgillaSettings, *, min_submitted: int, limit: int
) -> tuple[int, bool]:
    """(records pushed, dataset created). The dataset is created even with nothing to push."""
    with session_scope(engine) as session:
        records = [build_label_record(p) for p in posts_for_labelling(session, project_id, limit)]
    name = labelling_dataset_name(project_id)
    with adapter.dataset_session(settings, name, "push posts for labelling") as (
        rg,
        client,
        ws,
        dataset,
    ):
        created = dataset is None
        if dataset is None:
            dataset = rg.Dataset(
                name=name,
                workspace=ws,
                settings=_settings(rg, client, min_submitted),
                client=client,
            )
            dataset.create()
        elif QUESTION_LABEL not in {q.name for q in dataset.settings.questions}:
            raise ArgillaError(f"Argilla dataset {name!r} exists with another schema")
        else:
            adapter.ensure_min_submitted(rg, client, dataset, min_submitted, settings.api_url)
        if records:
            dataset.records.log(
                [
                    rg.Record(
                        id=r["id"],
                        fields=r["fields"],
                        metadata=r["metadata"],
                        suggestions=[rg.Suggestion(**r["suggestion"])],
                    )
                    for r in records
                ],
                batch_size=min(len(records), 500),
            )
    return len(records), created


def fetch_labels(settings: ArgillaSettings, project_id: str) -> dict[int, list[str]]:
    """Submitted labels per post id, one per reviewer."""
    name = labelling_dataset_name(project_id)
    out: dict[int, list[str]] = {}
    with adapter.dataset_session(settings, name, "fetch labels") as (rg, _, _, dataset):
        if dataset is None:
            raise ArgillaDatasetMissing(f"Argilla has no dataset {name!r} yet")
        query = rg.Query(filter=rg.Filter([("response.status", "==", "submitted")]))
        for record in dataset.records(query=query, with_responses=True, with_suggestions=False):
            post_id = (record.metadata or {}).get(META_POST_ID)
            if not isinstance(post_id, int) or isinstance(post_id, bool):
                continue
            for _user, status, values in adapter.raw_responses(record):
                label = values.get(QUESTION_LABEL)
                if status == "submitted" and label in LABELS:
                    out.setdefault(post_id, []).append(str(label))
    return out


def sync_labels(
    engine: Engine, project_id: str, settings: ArgillaSettings, *, min_submitted: int
) -> LabelSyncSummary:
    """Reviewers' labels into posts and judgments through the one label path."""
    try:
        labels = fetch_labels(settings, project_id)
    except ArgillaDatasetMissing:
        return LabelSyncSummary(dataset_missing=True)
    summary = LabelSyncSummary(records_read=len(labels))
    with session_scope(engine) as session:
        for post_id, given in sorted(labels.items()):
            post = session.get(Post, post_id)
            if post is None or post.project_id != project_id:
                continue
            decided = majority_label(given, min_submitted)
            if decided is None:
                if len(given) < min_submitted:
                    summary.pending += 1
                else:
                    summary.tied += 1
            elif label_post(session, post_id, decided):
                summary.applied += 1
            else:
                summary.unchanged += 1
    return summary
