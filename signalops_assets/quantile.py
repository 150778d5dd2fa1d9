"""The package's one quantile rule: nearest rank, the same in SQL (OFFSET) and in Python."""

from __future__ import annotations


def nearest_rank_index(n: int, q: float) -> int:
    """Index of the q-quantile among n sorted values (0 when n is 0)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    return max(0, min(n - 1, round(q * (n - 1))))
