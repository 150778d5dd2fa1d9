"""The product's vocabulary: every fixed set of values, defined once.

Stdlib only, so the CLI can build `click.Choice` from it without slowing `--help`, and the ORM,
the domain, the CLI and the test fakes all read the same values. A StrEnum member is a `str`,
so rows, JSON and comparisons with plain strings keep working.
"""

from __future__ import annotations

from enum import StrEnum


class Label(StrEnum):
    """A relevance label, from a judge or a human."""

    RELEVANT = "relevant"
    IRRELEVANT = "irrelevant"
    MAYBE = "maybe"


class Arm(StrEnum):
    """An experiment arm."""

    PRIMARY = "primary"
    CANARY = "canary"


class ExperimentMode(StrEnum):
    """split: each post goes to one arm; shadow: both judge every post, the primary decides."""

    SPLIT = "split"
    SHADOW = "shadow"


class ExperimentStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class DraftStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"
    SENT = "sent"


class ModelType(StrEnum):
    """What a registered model does."""

    JUDGE = "judge"
    DRAFTER = "drafter"


class Verdict(StrEnum):
    """An experiment analysis's verdict (experiments.decision), stored with every look."""

    SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"
    PROMOTE_CANARY = "promote_canary"
    GUARDRAIL_FAILED = "guardrail_failed"
    KEEP_PRIMARY = "keep_primary"
    NO_DECISION = "no_decision"


class PairSource(StrEnum):
    """Where a preference pair came from: a reviewer's edit of a draft, a rejection with a
    better reply, or a reply written by hand."""

    EDIT = "edit"
    REJECT = "reject"
    MANUAL = "manual"


class ReviewDecision(StrEnum):
    """A reviewer's decision on a preference pair in Argilla (not an experiment's Verdict):
    keep it as is, swap chosen and rejected, or discard it from training."""

    KEEP = "keep"
    SWAP = "swap"
    DISCARD = "discard"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values, in definition order (for messages and click.Choice)."""
    return tuple(member.value for member in enum)


LABELS = values(Label)
