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


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values, in definition order (for messages and click.Choice)."""
    return tuple(member.value for member in enum)


LABELS = values(Label)
