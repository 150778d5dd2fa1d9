"""Human review of DPO preference pairs in Argilla (SDK 2.x), and reading the decisions back.

No Dagster and no database here: callers build :class:`PairForReview` from their rows and get
plain :class:`PushSummary` / :class:`SubmittedReview` values back. ``argilla`` is an optional extra
(``signalops-assets[argilla]``) and a heavy import, so it is imported inside the functions.

Records, ids and decisions are built in :mod:`signalops_assets.argilla.records`; the dataset schema
is :mod:`signalops_assets.argilla.schema`.

Errors from the SDK, HTTP and the network surface as :class:`ArgillaError`: one line, naming
the server URL (without any userinfo), never the API key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from signalops_assets.argilla import client as adapter
from signalops_assets.argilla.client import ArgillaDatasetMissing
from signalops_assets.argilla.records import (
    PairForReview,
    SubmittedReview,
    build_record,
    default_dataset_name,
    ranking_order,
    resolve_decision,
)
from signalops_assets.argilla.schema import (
    META_CHOSEN_SIDE,
    META_PAIR_ID,
    QUESTION_DECISION,
    QUESTION_RANKING,
    build_settings,
    check_schema,
)
from signalops_assets.argilla.settings import DEFAULT_WORKSPACE
from signalops_assets.redaction import display_url

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE: Final = 200
MAX_BATCH_SIZE: Final = 500  # the server's (and SDK's) limit for one bulk upsert
MAX_SEARCH_PAGE: Final = 1000  # the server's limit for one page of a records search
DEFAULT_TIMEOUT_S: Final = 30.0
DEFAULT_RETRIES: Final = 2  # httpx transport retries: connection failures only, 0s/0.5s backoff


@dataclass(frozen=True)
class PushSummary:
    dataset: str
    workspace: str
    pushed: int  # distinct records sent (created or updated)
    created_dataset: bool


def _get_or_create_dataset(
    rg: Any, client: Any, *, workspace: str, dataset: str, url: str, min_submitted: int = 1
) -> tuple[Any, bool]:
    ws = adapter.require_workspace(client, workspace, url)
    existing = adapter.find_dataset(client, dataset, ws)
    if existing is not None:
        check_schema(existing, dataset, url)
        adapter.ensure_min_submitted(rg, client, existing, min_submitted, url)
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
        adapter.ensure_min_submitted(rg, client, existing, min_submitted, url)
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


def fetch_decisions(
    *,
    api_url: str,
    api_key: str,
    workspace: str = DEFAULT_WORKSPACE,
    dataset: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
) -> list[SubmittedReview]:
    """Every *submitted* response in the dataset as a decision, sorted by pair id then reviewer.

    Needs a key whose user is owner or admin (the SDK searches all users' responses). Records
    without a ``pair_id`` and responses without a usable answer are skipped.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    decisions: list[SubmittedReview] = []
    with adapter.session(
        api_url=api_url, api_key=api_key, timeout=timeout, retries=retries, action="fetch decisions"
    ) as (rg, client):
        ws = adapter.require_workspace(client, workspace, api_url)
        ds = adapter.find_dataset(client, dataset, ws)
        if ds is None:
            raise ArgillaDatasetMissing(
                f"Argilla at {display_url(api_url)} has no dataset {dataset!r} "
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
            decisions.extend(
                _record_decisions(record, lambda uid: adapter.username(client, uid, usernames))
            )
    return sorted(decisions, key=lambda v: (v.pair_id, v.reviewer or "", v.record_id))


def _record_decisions(record: Any, username: Callable[[str], str | None]) -> list[SubmittedReview]:
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
    out: list[SubmittedReview] = []
    for user_id, status, values in adapter.raw_responses(record):
        if status != "submitted":
            continue
        label = values.get(QUESTION_DECISION)
        decision = resolve_decision(
            label if isinstance(label, str) else None,
            ranking_order(values.get(QUESTION_RANKING)),
            side if isinstance(side, str) else None,
        )
        if decision is None:
            continue
        reviewer = username(user_id) if user_id else None
        out.append(
            SubmittedReview(
                pair_id=pair, decision=decision, reviewer=reviewer, record_id=str(record.id)
            )
        )
    return out
