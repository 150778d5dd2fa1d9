"""The held-out human-labelled posts as a Langfuse dataset, for offline evaluation of judges.

A post is held out by the same rule the judge training sets use (`fine_tuning.training_sets.
eval_split`: a hash of the project and the post's normalised author and text, below
`fine_tuning.eval_fraction`), so the dataset is exactly what fine-tuned judges never saw: stable
across runs and databases, never decided by row order, and crossposts stay together.

Each held-out labelled post becomes one item of `<project>-judge-eval`. Its id is derived from
project + platform id, so mirroring again updates instead of duplicating. input = the post
(author and text), expected_output = `{"label": <human label>}`, metadata = project, post_id,
platform_id. Tracing off: nothing is read or sent.

The offline gate's run over its held-out posts is recorded as two Langfuse dataset runs on these
items (`record_gate_runs`): the candidate's and the current judge's labels, each linked to its
item with an `agreement` score, so Langfuse's compare view shows candidate against current.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, select

from signalops_assets.db.models import Post
from signalops_assets.db.session import session_scope
from signalops_assets.errors import SignalOpsError
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.tracing import Tracer, get_tracer
from signalops_assets.redaction import exception_line

log = logging.getLogger(__name__)
DEFAULT_EVAL_FRACTION = 0.2
_ITEM_NAMESPACE = uuid.UUID("0b7d8c4e-2a61-4f3b-9e15-7c9a4d2b6e80")


def eval_dataset_name(project_id: str) -> str:
    return f"{project_id}-judge-eval"


def is_held_out(project_id: str, author: str, text: str, fraction: float) -> bool:
    from signalops_assets.fine_tuning.training_sets import eval_split

    return eval_split(project_id, author, text, fraction) == "eval"


def _item(
    project_id: str, post_id: int, platform_id: str, author: str, text: str, label: str
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(_ITEM_NAMESPACE, f"{project_id}:{platform_id}")),
        "input": {"author": author, "text": text},
        "expected_output": {"label": label},
        "metadata": {"project": project_id, "post_id": post_id, "platform_id": platform_id},
    }


def eval_items(engine: Engine, project_id: str, fraction: float) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(Post.id, Post.platform_id, Post.author, Post.text, Post.human_label)
            .where(Post.project_id == project_id, Post.human_label.is_not(None))
            .order_by(Post.id)
        ).all()
    return [
        _item(project_id, post_id, platform_id, author, text, str(label))
        for post_id, platform_id, author, text, label in rows
        if is_held_out(project_id, author or "", text or "", fraction)
    ]


def mirror_eval_dataset(
    engine: Engine,
    project_id: str,
    fraction: float = DEFAULT_EVAL_FRACTION,
    tracer: Tracer | None = None,
) -> int:
    """Items sent to Langfuse (0 when tracing is off: nothing is read or sent)."""
    tracer = tracer or get_tracer()
    if not tracer.enabled:
        return 0
    items = eval_items(engine, project_id, fraction)
    name = eval_dataset_name(project_id)
    try:
        sent = tracer.upsert_dataset(name, _description(project_id), items)
    except Exception as exc:  # the SDK's HTTP and validation errors: one line, no secrets
        raise SignalOpsError(f"Langfuse dataset {name}: {exception_line(exc, limit=240)}") from None
    tracer.flush()
    return sent


def record_gate_runs(
    project_id: str,
    posts: Sequence[PostInput],
    humans: Sequence[str],
    answers: Mapping[str, tuple[str, Sequence[str | None]]],
    training_set_id: int,
    tracer: Tracer | None = None,
) -> int:
    """The offline gate's answers as Langfuse dataset runs on `<project>-judge-eval`, one per
    role (`{"candidate": (model, labels), "current": (model, labels)}`, labels in `posts`
    order, None for an error), named `offline gate <training set>: <role> <model>`. The gate's
    posts are upserted as items first (they are the training set's held-out split, so the same
    items the mirror holds). Returns the runs recorded: 0 when tracing is off (nothing is sent)
    or when Langfuse failed, which is logged and never fails the gate."""
    tracer = tracer or get_tracer()
    if not tracer.enabled or not posts:
        return 0
    items = [
        _item(project_id, p.post_id, p.platform_id, p.author, p.text, label)
        for p, label in zip(posts, humans, strict=True)
    ]
    name = eval_dataset_name(project_id)
    try:
        tracer.upsert_dataset(name, _description(project_id), items)
        for role, (model, labels) in answers.items():
            outputs = {i["id"]: {"label": a} for i, a in zip(items, labels, strict=True)}
            tracer.record_dataset_run(
                name,
                f"offline gate {training_set_id}: {role} {model}",
                outputs,
                metadata={"role": role, "model": model, "training_set_id": str(training_set_id)},
            )
        tracer.flush()
    except Exception as exc:  # observability must not decide the gate; say what was lost
        log.warning(
            "offline gate runs not recorded in Langfuse dataset %s: %s",
            name,
            exception_line(exc, limit=240),
        )
        return 0
    return len(answers)


def _description(project_id: str) -> str:
    return f"Held-out human-labelled posts of {project_id} (expected_output = the human label)"
