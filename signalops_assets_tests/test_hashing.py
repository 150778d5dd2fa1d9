"""stable_unit is pinned: A/B arms and train/eval splits already stored depend on its values."""

from __future__ import annotations

from signalops_assets.fine_tuning.training_sets import eval_split
from signalops_assets.hashing import stable_unit
from signalops_assets.judging.ab import assign_arm, assignment_unit
from signalops_assets.preferences.formats import split_bucket


def test_values_are_the_ones_assignments_and_splits_were_made_with() -> None:
    # Measured with the pre-`stable_unit` code (sha256 inlined in ab.py and formats.py).
    assert assignment_unit("exp-1", "x:42") == 0.9358969852743639
    assert assignment_unit("judge-eval:spectra", "abc") == 0.34023224711292877
    assert split_bucket("post-7") == 0.8196429916515727
    assert split_bucket("post-7", "other") == 0.6004214169544033
    assert [eval_split("spectra", "a", f"post {i}", 0.2) for i in range(12)] == [
        "train", "train", "eval", "eval", "eval", "train",
        "train", "eval", "train", "train", "train", "train",
    ]  # fmt: skip
    assert assign_arm("exp-1", "x:42", 0.9) == "primary"
    assert assign_arm("exp-1", "x:42", 0.95) == "canary"


def test_the_separator_keeps_salt_and_key_apart() -> None:
    assert stable_unit("ab", "c") != stable_unit("a", "bc")
    assert stable_unit("a", "b", separator=":") != stable_unit("a", "b")
    units = [stable_unit("s", str(i)) for i in range(4000)]
    assert all(0.0 <= u < 1.0 for u in units)
    assert 0.47 < sum(units) / len(units) < 0.53  # uniform enough for thresholds
