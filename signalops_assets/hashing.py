"""Stable pseudo-random numbers from content: the same input gives the same number in every
process and on every machine (sha256, never Python's per-process salted `hash()`)."""

from __future__ import annotations

import hashlib


def stable_unit(salt: str, key: str, separator: str = "\x00") -> float:
    """A number in [0, 1) for (salt, key), uniform over keys: the first 8 bytes of
    sha256(salt + separator + key). A/B assignment and the train/eval splits are thresholds on
    it, so changing the formula (or a caller's separator) would move posts between arms and
    splits; the test pins its values. The separator keeps ("ab", "c") and ("a", "bc") apart."""
    text = f"{salt}{separator}{key}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
