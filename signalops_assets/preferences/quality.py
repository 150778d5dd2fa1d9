"""Quality metrics and filters for (chosen, rejected) DPO pairs. Pure functions, no I/O."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

FilterReason = Literal[
    "empty_text",
    "too_long",
    "identical_after_normalization",
    "edit_ratio_below_threshold",
]


def normalize_review_text(text: str) -> str:
    """How reviewer (and model) text is stored and exported: NFC, LF line endings. A CRLF
    editor or a decomposed "é" must not read as an edit against the model's LF text."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def normalize(text: str) -> str:
    """Casefold, drop Unicode punctuation and collapse whitespace.

    NFKC first so that canonically/compatibly equal strings (é vs e + U+0301, full-width
    letters, ligatures) compare equal: a reviewer's editor may silently change the encoding.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    # Punctuation is removed before collapsing, so "a - b" ends up as "a b", not "a  b".
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance over characters (unit-cost insert, delete, substitute).

    Bit-parallel (Myers 1999 / Hyyrö 2003) with a Python int as the bit vector: one pass over
    the longer string with O(len(shorter)) bits of state, instead of the textbook DP's
    len(a) * len(b) Python-level steps, which long replies would make the export's bottleneck.
    """
    # Shared prefix/suffix never changes the distance and reviewer edits are usually local.
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    if len(a) > len(b):
        a, b = b, a
    if not a:
        return len(b)

    masks: dict[str, int] = {}
    for i, ch in enumerate(a):
        masks[ch] = masks.get(ch, 0) | (1 << i)
    all_bits = (1 << len(a)) - 1
    top = 1 << (len(a) - 1)
    pv, mv, score = all_bits, 0, len(a)
    for ch in b:
        eq = masks.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        # The "| 1" is the first DP row (0, 1, 2, ...): global distance, not substring search.
        ph = (ph << 1) | 1
        mh <<= 1
        # Python's ~ yields negative (infinitely sign-extended) ints; mask back to len(a) bits.
        pv = (mh | ~(xv | ph)) & all_bits
        mv = ph & xv & all_bits
    return score


@dataclass(frozen=True, slots=True)
class PairMetrics:
    """How far the reviewer's text (chosen) is from the model's draft (rejected).

    edit_distance: Levenshtein distance of the raw texts.
    edit_ratio: Levenshtein distance of the normalized texts / the longer normalized text
        (0.0 when both normalize to the same string).
    Both are None when the pair was rejected as too long, to avoid a quadratic computation.
    length_delta: len(chosen) - len(rejected), raw characters.
    """

    edit_distance: int | None
    edit_ratio: float | None
    length_delta: int


class FilterSettings(Protocol):
    """Anything with these attributes works, e.g. config.QualityConfig."""

    @property
    def min_edit_ratio(self) -> float: ...
    @property
    def drop_identical(self) -> bool: ...
    @property
    def max_chars(self) -> int: ...


class QualityFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_edit_ratio: float = Field(0.05, ge=0.0, le=1.0)
    drop_identical: bool = True
    max_chars: int = Field(8000, gt=0)


def evaluate_pair(
    chosen: str, rejected: str, cfg: FilterSettings | None = None
) -> tuple[PairMetrics, FilterReason | None]:
    """Measure a pair and say why it should be dropped (None = keep).

    Checks run in a fixed order so each dropped pair gets exactly one, stable reason:
    empty_text, too_long, identical_after_normalization, edit_ratio_below_threshold.
    """
    settings: FilterSettings = cfg if cfg is not None else QualityFilter()
    delta = len(chosen) - len(rejected)
    empty = not (chosen.strip() and rejected.strip())
    if max(len(chosen), len(rejected)) > settings.max_chars:
        return PairMetrics(None, None, delta), "empty_text" if empty else "too_long"

    norm_c, norm_r = normalize(chosen), normalize(rejected)
    longest = max(len(norm_c), len(norm_r))
    ratio = edit_distance(norm_c, norm_r) / longest if longest else 0.0
    metrics = PairMetrics(edit_distance(chosen, rejected), ratio, delta)
    if empty:
        return metrics, "empty_text"
    if settings.drop_identical and norm_c == norm_r:
        return metrics, "identical_after_normalization"
    if ratio < settings.min_edit_ratio:
        return metrics, "edit_ratio_below_threshold"
    return metrics, None
