"""Few-shot examples for prompted judges (`llm.few_shot: N`), drawn from human labels."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalops_assets.db.models import Post
from signalops_assets.judging.prompts import FewShot, PostInput
from signalops_assets.vocab import LABELS


def few_shot_examples(session: Session, project_id: str, n: int) -> tuple[FewShot, ...]:
    """Up to `n` labelled posts, taking each label in turn from the oldest labelled posts.
    Oldest first, so the examples (and with them the prompt version, and every judgment a
    judge may reuse) stay the same as new labels arrive."""
    if n <= 0:
        return ()
    rows = session.execute(
        select(Post.id, Post.platform_id, Post.author, Post.author_bio, Post.text, Post.human_label)
        .where(Post.project_id == project_id, Post.human_label.in_(LABELS))
        .order_by(Post.id)
        .limit(n * len(LABELS))
    ).all()
    queues = {label: [r for r in rows if r.human_label == label] for label in LABELS}
    picked: list[FewShot] = []
    while len(picked) < n and any(queues.values()):
        for label in LABELS:
            if queues[label] and len(picked) < n:
                r = queues[label].pop(0)
                post = PostInput(r.id, r.platform_id, r.author, r.author_bio, r.text)
                picked.append(FewShot(post, label))
    return tuple(sorted(picked, key=lambda e: e.post.post_id))
