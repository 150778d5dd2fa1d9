"""Review records as plain data (no SDK, no database): building them, their stable ids, and
turning a reviewer's answer into a decision.

Dataset design (one dataset per project, ``<project>-dpo-review`` unless named):

* fields: ``prompt`` (:class:`argilla.ChatField`; the prompt as one user message), ``post``
  (optional text, the original post when it differs from the prompt), ``response_a`` and
  ``response_b`` (text). Which of the two holds *chosen* is decided per pair by a hash of
  (project, pair id) — stable across pushes, about half each way — and stored in the metadata
  ``chosen_side`` (``a``/``b``), which is hidden from annotators so the position of the edit
  can't bias them.
* questions: ``ranking`` (:class:`argilla.RankingQuestion` over ``a``/``b``, optional) and
  ``verdict`` (:class:`argilla.LabelQuestion`: keep / swap / discard, required).
* metadata: ``pair_id`` (integer, hidden from annotators), ``project`` and ``source``
  (terms), ``edit_ratio`` (float), ``length_delta`` (integer, hidden: its sign gives away the
  longer side), ``chosen_side`` (terms, hidden).

Record identity: the Argilla record id (its ``external_id``) is
``pair-<pair_id>-<16 hex of sha256(project, pair_id, chosen, rejected)>``
(:func:`record_id_for`). Pushing the same pair again updates that record in place (metadata
only) and never duplicates it. If the chosen or rejected text of a pair changes, that is a
*new* record: the Argilla server does not update the fields of an existing record on upsert
(only its metadata and responses), so reusing the id would leave reviewers looking at stale
text. The old record stays; :class:`SubmittedReview` carries ``record_id`` so callers can drop
decisions on content that is no longer current (compare with :func:`record_id_for`).

How a submitted response becomes a decision (:func:`resolve_decision`): ``discard`` always
wins; otherwise a ranking with a clear winner decides (winner == ``chosen_side`` → ``keep``,
else ``swap``), because the reviewer ranked blind; without a usable ranking the ``verdict``
label (``keep``/``swap``) is taken as given. One decision per (record, reviewer).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from signalops_assets.argilla.schema import (
    FIELD_A,
    FIELD_B,
    FIELD_POST,
    FIELD_PROMPT,
    META_CHOSEN_SIDE,
    META_EDIT_RATIO,
    META_LENGTH_DELTA,
    META_PAIR_ID,
    META_PROJECT,
    META_SOURCE,
    SIDES,
    SOURCES,
)
from signalops_assets.vocab import ReviewDecision

Side = Literal["a", "b"]


@dataclass(frozen=True)
class PairForReview:
    """One preference pair as the caller read it from the database (plain data)."""

    pair_id: int
    project_id: str
    post_text: str
    prompt: str
    chosen: str
    rejected: str
    source: str  # edit | reject | manual
    edit_ratio: float | None
    length_delta: int | None


@dataclass(frozen=True)
class SubmittedReview:
    """A reviewer's submitted decision (vocab.ReviewDecision) on a pair. ``record_id`` tells
    which content was judged."""

    pair_id: int
    decision: str  # a ReviewDecision value: keep | swap | discard
    reviewer: str | None
    record_id: str = ""


def default_dataset_name(project_id: str) -> str:
    return f"{project_id}-dpo-review"


def record_id_for(pair: PairForReview) -> str:
    """Stable Argilla record id: same project, pair id and texts → same id (see module doc)."""
    payload = json.dumps(
        [pair.project_id, pair.pair_id, pair.chosen, pair.rejected],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
    return f"pair-{pair.pair_id}-{digest}"


def chosen_side_for(pair: PairForReview) -> Side:
    """Which response slot holds *chosen*: a stable coin flip on (project, pair id). Not
    `hashing.stable_unit`: records already in Argilla were laid out by this bit, and a re-push
    of a pair must keep its sides."""
    digest = hashlib.sha256(f"{pair.project_id}\x00{pair.pair_id}".encode()).digest()
    return "a" if digest[0] % 2 == 0 else "b"


def build_record(pair: PairForReview) -> dict[str, Any]:
    """The record for a pair as plain data: ``{"id", "fields", "metadata"}``."""
    if pair.source not in SOURCES:
        raise ValueError(f"pair {pair.pair_id}: unknown source {pair.source!r}; expected {SOURCES}")
    if not (pair.prompt.strip() or pair.post_text.strip()):
        raise ValueError(f"pair {pair.pair_id}: prompt and post_text are both empty")
    if not (pair.chosen.strip() and pair.rejected.strip()):
        raise ValueError(f"pair {pair.pair_id}: chosen and rejected must both be non-empty")
    side = chosen_side_for(pair)
    first, second = (pair.chosen, pair.rejected) if side == "a" else (pair.rejected, pair.chosen)
    prompt = pair.prompt if pair.prompt.strip() else pair.post_text
    fields: dict[str, Any] = {
        FIELD_PROMPT: [{"role": "user", "content": prompt}],
        FIELD_A: first,
        FIELD_B: second,
    }
    if pair.post_text.strip() and pair.post_text.strip() not in prompt:
        fields[FIELD_POST] = pair.post_text
    metadata: dict[str, Any] = {
        META_PAIR_ID: pair.pair_id,
        META_PROJECT: pair.project_id,
        META_SOURCE: pair.source,
        META_CHOSEN_SIDE: side,
    }
    # Argilla rejects None for typed metadata: leave unknown values out.
    if pair.edit_ratio is not None:
        metadata[META_EDIT_RATIO] = float(pair.edit_ratio)
    if pair.length_delta is not None:
        metadata[META_LENGTH_DELTA] = int(pair.length_delta)
    return {"id": record_id_for(pair), "fields": fields, "metadata": metadata}


def resolve_decision(
    label: str | None, ranking: Sequence[str] | None, chosen_side: str | None
) -> ReviewDecision | None:
    """One reviewer's decision from the ``verdict`` label and the ``ranking`` (best first).

    ``discard`` wins; a ranking whose first entry is ``a``/``b`` decides keep/swap against the
    hidden ``chosen_side`` (the reviewer ranked blind); else the label keep/swap as given.
    None when nothing usable was answered.
    """
    if label == ReviewDecision.DISCARD:
        return ReviewDecision.DISCARD
    top = ranking[0] if ranking else None
    if top in SIDES and chosen_side in SIDES:
        return ReviewDecision.KEEP if top == chosen_side else ReviewDecision.SWAP
    if label in (ReviewDecision.KEEP, ReviewDecision.SWAP):
        return ReviewDecision(label)
    return None


def ranking_order(value: Any) -> list[str] | None:
    """Option values best first, from ``["b", "a"]`` or ``[{"value": "b", "rank": 1}, ...]``.

    A tie for first place (two options with the same best rank) gives no order.
    """
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, str) for v in value):
        return cast(list[str], value)
    entries: list[tuple[float, int, str]] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
            return None
        rank = item.get("rank")
        entries.append(
            (float(rank) if isinstance(rank, int | float) else float("inf"), index, item["value"])
        )
    entries.sort()
    if len(entries) > 1 and entries[0][0] == entries[1][0] != float("inf"):
        return None
    return [v for _, _, v in entries]
