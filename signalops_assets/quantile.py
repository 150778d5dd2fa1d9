"""The package's one quantile rule: nearest rank, the same in SQL (OFFSET) and in Python."""

from __future__ import annotations

from collections.abc import Sequence


def nearest_rank_index(n: int, q: float) -> int:
    """Index of the q-quantile among n sorted values (0 when n is 0)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    return max(0, min(n - 1, round(q * (n - 1))))


def nearest_rank(sorted_values: Sequence[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[nearest_rank_index(len(sorted_values), q)]
