"""Human review of DPO preference pairs in Argilla (SDK 2.x), and reading the verdicts back.

No Dagster and no database here: callers build :class:`PairForReview` from their rows and get
plain :class:`PushSummary` / :class:`ReviewVerdict` values back. ``argilla`` is an optional extra
(``signalops-assets[argilla]``) and a heavy import, so it is imported inside the functions.

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
text. The old record stays; :class:`ReviewVerdict` carries ``record_id`` so callers can drop
verdicts on content that is no longer current (compare with :func:`record_id_for`).

How a submitted response becomes a verdict (:func:`resolve_verdict`): ``discard`` always
wins; otherwise a ranking with a clear winner decides (winner == ``chosen_side`` → ``keep``,
else ``swap``), because the reviewer ranked blind; without a usable ranking the ``verdict``
label (``keep``/``swap``) is taken as given. One verdict per (record, reviewer).

Errors from the SDK, HTTP and the network surface as :class:`ArgillaError`: one line, naming
the server URL (without any userinfo), never the API key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from signalops_assets.argilla import client as adapter
from signalops_assets.argilla.client import ArgillaDatasetMissing, ArgillaError
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
    QUESTION_RANKING,
    QUESTION_VERDICT,
    SIDES,
    SOURCES,
    build_settings,
    check_schema,
)
from signalops_assets.argilla.settings import (
    DEFAULT_WORKSPACE,
    ArgillaSettings,
    argilla_settings,
    argilla_settings_from_env,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_WORKSPACE",
    "SOURCES",
    "VERDICTS",
    "ArgillaDatasetMissing",
    "ArgillaError",
    "ArgillaSettings",
    "PairForReview",
    "PushSummary",
    "ReviewVerdict",
    "argilla_settings",
    "argilla_settings_from_env",
    "build_record",
    "chosen_side_for",
    "default_dataset_name",
    "fetch_verdicts",
    "push_pairs",
    "record_id_for",
    "resolve_verdict",
]

logger = logging.getLogger(__name__)

Verdict = Literal["keep", "swap", "discard"]
Side = Literal["a", "b"]

VERDICTS: Final[tuple[str, ...]] = ("keep", "swap", "discard")
DEFAULT_BATCH_SIZE: Final = 200
MAX_BATCH_SIZE: Final = 500  # the server's (and SDK's) limit for one bulk upsert
MAX_SEARCH_PAGE: Final = 1000  # the server's limit for one page of a records search
DEFAULT_TIMEOUT_S: Final = 30.0
DEFAULT_RETRIES: Final = 2  # httpx transport retries: connection failures only, 0s/0.5s backoff


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
class ReviewVerdict:
    """A reviewer's submitted verdict on a pair. ``record_id`` tells which content was judged."""

    pair_id: int
    verdict: str  # keep | swap | discard
    reviewer: str | None
    record_id: str = ""


@dataclass(frozen=True)
class PushSummary:
    dataset: str
    workspace: str
    pushed: int  # distinct records sent (created or updated)
    created_dataset: bool


# -- pure record building ----------------------------------------------------------------------


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
    """Which response slot holds *chosen*: a stable coin flip on (project, pair id)."""
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


def resolve_verdict(
    label: str | None, ranking: Sequence[str] | None, chosen_side: str | None
) -> Verdict | None:
    """One reviewer's verdict from the ``verdict`` label and the ``ranking`` (best first).

    ``discard`` wins; a ranking whose first entry is ``a``/``b`` decides keep/swap against the
    hidden ``chosen_side`` (the reviewer ranked blind); else the label keep/swap as given.
    None when nothing usable was answered.
    """
    if label == "discard":
        return "discard"
    top = ranking[0] if ranking else None
    if top in SIDES and chosen_side in SIDES:
        return "keep" if top == chosen_side else "swap"
    if label == "keep":
        return "keep"
    if label == "swap":
        return "swap"
    return None


def _get_or_create_dataset(
    rg: Any, client: Any, *, workspace: str, dataset: str, url: str, min_submitted: int = 1
) -> tuple[Any, bool]:
    ws = adapter.require_workspace(client, workspace, url)
    existing = adapter.find_dataset(client, dataset, ws)
    if existing is not None:
        check_schema(existing, dataset, url)
        return existing, False
    created = rg.Dataset(
        name=dataset,
        workspace=ws,
        settings=build_settings(rg, client, min_submitted),
        client=client,
    )
    try:
        created.create()
    except Exception as exc:
        if getattr(exc, "status_code", None) != 409:
            raise
        # Someone created it between our lookup and create: use theirs.
        existing = adapter.find_dataset(client, dataset, ws)
        if existing is None:
            raise
        check_schema(existing, dataset, url)
        return existing, False
    logger.info("created Argilla dataset %r in workspace %r", dataset, workspace)
    return created, True


# -- public operations -------------------------------------------------------------------------


def push_pairs(
    pairs: Iterable[PairForReview],
    *,
    api_url: str,
    api_key: str,
    workspace: str = DEFAULT_WORKSPACE,
    dataset: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
    min_submitted: int = 1,
) -> PushSummary:
    """Get or create the review dataset and upsert one record per distinct pair, in batches.

    ``dataset`` defaults to ``<project>-dpo-review``; then all pairs must share one project.
    Re-pushing is idempotent (stable record ids). No pairs: the dataset is still created (a
    fresh project's reviewers see it, and a sync finds it); no pairs and no dataset name →
    no request at all.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pairs = list(pairs)
    if dataset is None and pairs:
        projects = sorted({p.project_id for p in pairs})
        if len(projects) > 1:
            raise ValueError(f"pairs from several projects {projects}: pass dataset= explicitly")
        dataset = default_dataset_name(projects[0])
    name = dataset or ""
    # Deduplicate by record id (last wins): one bulk may not name a record twice.
    records = list({r["id"]: r for r in map(build_record, pairs)}.values())
    if not name:
        return PushSummary(dataset=name, workspace=workspace, pushed=0, created_dataset=False)
    with adapter.session(
        api_url=api_url, api_key=api_key, timeout=timeout, retries=retries, action="push pairs"
    ) as (rg, client):
        ds, created = _get_or_create_dataset(
            rg, client, workspace=workspace, dataset=name, url=api_url, min_submitted=min_submitted
        )
        if records:
            ds.records.log(
                [
                    rg.Record(id=r["id"], fields=r["fields"], metadata=r["metadata"])
                    for r in records
                ],
                # Pre-normalised: the SDK logs a warning whenever it has to shrink the batch.
                batch_size=min(batch_size, len(records), MAX_BATCH_SIZE),
            )
    logger.info(
        "pushed %d pair(s) to Argilla dataset %r (workspace %r)", len(records), name, workspace
    )
    return PushSummary(
        dataset=name, workspace=workspace, pushed=len(records), created_dataset=created
    )


def fetch_verdicts(
    *,
    api_url: str,
    api_key: str,
    workspace: str = DEFAULT_WORKSPACE,
    dataset: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
) -> list[ReviewVerdict]:
    """Every *submitted* response in the dataset as a verdict, sorted by pair id then reviewer.

    Needs a key whose user is owner or admin (the SDK searches all users' responses). Records
    without a ``pair_id`` and responses without a usable answer are skipped.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    verdicts: list[ReviewVerdict] = []
    with adapter.session(
        api_url=api_url, api_key=api_key, timeout=timeout, retries=retries, action="fetch verdicts"
    ) as (rg, client):
        ws = adapter.require_workspace(client, workspace, api_url)
        ds = adapter.find_dataset(client, dataset, ws)
        if ds is None:
            raise ArgillaDatasetMissing(
                f"Argilla at {adapter.display_url(api_url)} has no dataset {dataset!r} "
                f"in workspace {workspace!r}"
            )
        usernames: dict[str, str | None] = {}
        query = rg.Query(filter=rg.Filter([("response.status", "==", "submitted")]))
        for record in ds.records(
            query=query,
            with_responses=True,
            with_suggestions=False,
            batch_size=min(batch_size, MAX_SEARCH_PAGE),
        ):
            verdicts.extend(
                _record_verdicts(record, lambda uid: adapter.username(client, uid, usernames))
            )
    return sorted(verdicts, key=lambda v: (v.pair_id, v.reviewer or "", v.record_id))


def _record_verdicts(record: Any, username: Callable[[str], str | None]) -> list[ReviewVerdict]:
    metadata = dict(record.metadata or {})
    pair_id = metadata.get(META_PAIR_ID)
    if isinstance(pair_id, bool) or not isinstance(pair_id, int | str):
        logger.debug("skipping Argilla record %r: no pair_id metadata", record.id)
        return []
    try:
        pair = int(pair_id)
    except ValueError:
        return []
    side = metadata.get(META_CHOSEN_SIDE)
    out: list[ReviewVerdict] = []
    for user_id, status, values in adapter.raw_responses(record):
        if status != "submitted":
            continue
        label = values.get(QUESTION_VERDICT)
        verdict = resolve_verdict(
            label if isinstance(label, str) else None,
            _ranking_order(values.get(QUESTION_RANKING)),
            side if isinstance(side, str) else None,
        )
        if verdict is None:
            continue
        reviewer = username(user_id) if user_id else None
        out.append(
            ReviewVerdict(
                pair_id=pair, verdict=verdict, reviewer=reviewer, record_id=str(record.id)
            )
        )
    return out


def _ranking_order(value: Any) -> list[str] | None:
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
