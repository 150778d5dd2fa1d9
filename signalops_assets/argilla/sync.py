"""Preference pairs ⇄ Argilla: push unreviewed pairs, apply reviewers' decisions back.

A swapped pair is pushed in its original orientation, so its Argilla record id stays the same and
applying the same decisions twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from signalops_assets.argilla.client import ArgillaDatasetMissing
from signalops_assets.argilla.records import (
    PairForReview,
    SubmittedReview,
    default_dataset_name,
    record_id_for,
)
from signalops_assets.argilla.review import PushSummary, fetch_decisions, push_pairs
from signalops_assets.argilla.settings import ArgillaSettings
from signalops_assets.db.models import Post, PreferencePair
from signalops_assets.db.session import session_scope
from signalops_assets.vocab import ReviewDecision

REVIEWER_REASON = "reviewer"


def _for_review(pair: PreferencePair, post_text: str) -> PairForReview:
    chosen, rejected = pair.chosen, pair.rejected
    if pair.review_decision == ReviewDecision.SWAP:  # show reviewers what they first saw
        chosen, rejected = rejected, chosen
    return PairForReview(
        pair_id=pair.id,
        project_id=pair.project_id,
        post_text=post_text,
        prompt=pair.prompt,
        chosen=chosen,
        rejected=rejected,
        source=pair.source,
        edit_ratio=pair.edit_ratio,
        length_delta=pair.length_delta,
    )


def pairs_for_review(engine: Engine, project_id: str) -> list[PairForReview]:
    """Pairs worth a reviewer's time: not filtered by quality (reviewer-discarded ones stay
    in the dataset, so their record and decision remain visible)."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(PreferencePair, Post.text)
            .join(Post, Post.id == PreferencePair.post_id)
            .where(
                PreferencePair.project_id == project_id,
                (PreferencePair.filtered.is_(False))
                | (PreferencePair.filter_reason == REVIEWER_REASON),
            )
            .order_by(PreferencePair.id)
        ).all()
        return [_for_review(pair, text) for pair, text in rows]


def _min_submitted(project_id: str, given: int | None) -> int:
    if given is not None:
        return given
    from signalops_assets.config import ReviewConfig, load_project, project_config_path

    if not project_config_path(project_id).is_file():  # a project known only to the database
        return ReviewConfig().min_submitted
    return load_project(project_id).review.min_submitted


def push_project(
    engine: Engine,
    project_id: str,
    settings: ArgillaSettings,
    dataset: str | None = None,
    min_submitted: int | None = None,
) -> PushSummary:
    """`min_submitted` (default: the project's `review.min_submitted`): the dataset is created
    with it, or an existing one is changed to it (see `client.ensure_min_submitted`)."""
    return push_pairs(
        pairs_for_review(engine, project_id),
        api_url=settings.api_url,
        api_key=settings.api_key,
        workspace=settings.workspace,
        dataset=dataset or default_dataset_name(project_id),
        min_submitted=_min_submitted(project_id, min_submitted),
    )


@dataclass
class SyncSummary:
    decisions_read: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    stale: int = 0
    tied: int = 0
    pending: int = 0  # fewer reviewers than min_submitted so far
    dataset_missing: bool = False  # nothing pushed yet: the sync read nothing, changed nothing


def _majority(reviews: list[SubmittedReview]) -> str | None:
    counts = Counter(v.decision for v in reviews).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None
    return counts[0][0]


def apply_decisions(
    engine: Engine, project_id: str, reviews: list[SubmittedReview], min_submitted: int = 1
) -> SyncSummary:
    """keep → as exported; swap → chosen and rejected exchanged; discard → filtered with
    reason `reviewer`. Several reviewers: the majority decides once `min_submitted` have
    answered (fewer: pending); a tie changes nothing."""
    summary = SyncSummary(decisions_read=len(reviews))
    by_pair: dict[int, list[SubmittedReview]] = {}
    for review in reviews:
        by_pair.setdefault(review.pair_id, []).append(review)
    with session_scope(engine) as session:
        for pair_id, group in sorted(by_pair.items()):
            pair = session.get(PreferencePair, pair_id)
            if pair is None or pair.project_id != project_id:
                summary.stale += 1
                continue
            post_text = session.scalar(select(Post.text).where(Post.id == pair.post_id)) or ""
            current = record_id_for(_for_review(pair, post_text))
            group = [v for v in group if not v.record_id or v.record_id == current]
            if not group:
                summary.stale += 1  # decisions on text that has since changed
                continue
            if len(group) < min_submitted:
                summary.pending += 1
                continue
            decision = _majority(group)
            if decision is None:
                summary.tied += 1
                continue
            if _apply(pair, decision):
                summary.applied[decision] += 1
            else:
                summary.unchanged += 1
    return summary


def _apply(pair: PreferencePair, decision: str) -> bool:
    keep, swap, discard = ReviewDecision.KEEP, ReviewDecision.SWAP, ReviewDecision.DISCARD
    previous = pair.review_decision or keep
    if decision == previous:
        return False
    if (previous == swap) != (decision == swap) and decision != discard:
        pair.chosen, pair.rejected = pair.rejected, pair.chosen
    if previous == swap and decision == discard:
        pair.chosen, pair.rejected = pair.rejected, pair.chosen  # back to the original sides
    if decision == discard:
        pair.filtered, pair.filter_reason = True, REVIEWER_REASON
    elif pair.filter_reason == REVIEWER_REASON:
        pair.filtered, pair.filter_reason = False, None
    pair.review_decision = decision
    return True


def sync_project(
    engine: Engine,
    project_id: str,
    settings: ArgillaSettings,
    dataset: str | None = None,
    min_submitted: int | None = None,
) -> SyncSummary:
    try:
        decisions = fetch_decisions(
            api_url=settings.api_url,
            api_key=settings.api_key,
            workspace=settings.workspace,
            dataset=dataset or default_dataset_name(project_id),
        )
    except ArgillaDatasetMissing:
        return SyncSummary(dataset_missing=True)
    return apply_decisions(engine, project_id, decisions, _min_submitted(project_id, min_submitted))
