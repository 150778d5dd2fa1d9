import random

import pytest
from pydantic import ValidationError

from signalops_assets.preferences.quality import (
    PairMetrics,
    QualityFilter,
    edit_distance,
    evaluate_pair,
    normalize,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello,   World!  ", "hello world"),
        ("Tabs\tand\nnew\r\nlines", "tabs and new lines"),
        ("a - b", "a b"),
        ("«Guillemets» and “curly” ‘quotes’…", "guillemets and curly quotes"),
        ("¿Qué tal? ¡Bien!", "qué tal bien"),
        ("日本語、テスト。", "日本語テスト"),
        ("STRASSE Straße", "strasse strasse"),
        ("e\u0301", "é"),  # decomposed vs composed
        ("ＦＵＬＬ width", "full width"),
        ("price: $5 👍", "price $5 👍"),  # symbols (S*) are not punctuation
        ("", ""),
        (" ... !!! ", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("same", "same", 0),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("saturday", "sunday", 3),
        ("intention", "execution", 5),
        ("ab", "ba", 2),
        ("café", "cafe", 1),
        ("👍 ok", "👎 ok", 1),
        ("a" * 100, "b" * 100, 100),
    ],
)
def test_edit_distance_known_values(a: str, b: str, expected: int) -> None:
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


def _reference_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_edit_distance_matches_reference_on_random_strings() -> None:
    rng = random.Random(20240601)
    for _ in range(3000):
        # A tiny alphabet forces many matches; lengths cross the 30/64-bit digit boundaries.
        alphabet = rng.choice(["ab", "abc ", "xyzé👍"])
        a = "".join(rng.choices(alphabet, k=rng.randint(0, 70)))
        b = "".join(rng.choices(alphabet, k=rng.randint(0, 70)))
        assert edit_distance(a, b) == _reference_distance(a, b), (a, b)


def test_edit_distance_on_long_texts_matches_the_textbook_dp() -> None:
    """Correctness on long inputs (the bit vector spans many machine words); its speed against
    the textbook DP is bench/edit_distance.py's figure."""
    from bench.edit_distance import textbook

    rng = random.Random(7)
    for _ in range(3):
        a = "".join(rng.choices("abc ", k=rng.randint(150, 400)))
        b = a[:50] + "".join(rng.choices("abcd", k=30)) + a[90:]
        assert edit_distance(a, b) == textbook(a, b)
        c = "".join(rng.choices("abcd", k=rng.randint(100, 300)))
        assert edit_distance(a, c) == textbook(a, c) == edit_distance(c, a)


def test_metrics_for_a_kept_pair() -> None:
    metrics, reason = evaluate_pair("Thanks, we fixed it today!", "Thanks, we will fix it.")
    assert reason is None
    assert metrics.edit_distance == edit_distance(
        "Thanks, we fixed it today!", "Thanks, we will fix it."
    )
    assert metrics.length_delta == len("Thanks, we fixed it today!") - len(
        "Thanks, we will fix it."
    )
    assert metrics.edit_ratio is not None
    assert 0.05 <= metrics.edit_ratio <= 1.0


def test_edit_ratio_uses_normalized_texts() -> None:
    metrics, reason = evaluate_pair("Hello, World!", "hello world")
    assert metrics == PairMetrics(edit_distance=4, edit_ratio=0.0, length_delta=2)
    assert reason == "identical_after_normalization"


def test_identical_after_normalization_can_be_kept_but_still_fails_ratio() -> None:
    cfg = QualityFilter(drop_identical=False)
    assert evaluate_pair("Hi!", "hi", cfg)[1] == "edit_ratio_below_threshold"
    assert (
        evaluate_pair("Hi!", "hi", QualityFilter(drop_identical=False, min_edit_ratio=0))[1] is None
    )


def test_edit_ratio_below_threshold() -> None:
    draft = "We are looking into the issue and will update you shortly. " * 3
    chosen = draft.replace("shortly", "shortly!", 1).replace("issue", "issues", 1)
    metrics, reason = evaluate_pair(chosen, draft)
    assert reason == "edit_ratio_below_threshold"
    assert metrics.edit_ratio is not None and 0 < metrics.edit_ratio < 0.05


@pytest.mark.parametrize(("chosen", "rejected"), [("", "draft"), ("reply", "  \n "), ("", "")])
def test_empty_text(chosen: str, rejected: str) -> None:
    assert evaluate_pair(chosen, rejected)[1] == "empty_text"


def test_too_long_skips_the_distance() -> None:
    cfg = QualityFilter(max_chars=10)
    metrics, reason = evaluate_pair("x" * 11, "short", cfg)
    assert reason == "too_long"
    assert metrics == PairMetrics(edit_distance=None, edit_ratio=None, length_delta=6)
    assert evaluate_pair("x" * 10, "y" * 10, cfg)[1] is None


def test_empty_wins_over_too_long() -> None:
    assert evaluate_pair("x" * 11, "", QualityFilter(max_chars=10))[1] == "empty_text"


def test_accepts_any_settings_object() -> None:
    class Settings:
        min_edit_ratio = 0.9
        drop_identical = True
        max_chars = 100

    assert evaluate_pair("abc", "abd", Settings())[1] == "edit_ratio_below_threshold"


def test_quality_filter_defaults_and_bounds() -> None:
    cfg = QualityFilter()
    assert (cfg.min_edit_ratio, cfg.drop_identical, cfg.max_chars) == (0.05, True, 8000)
    with pytest.raises(ValidationError):
        QualityFilter(min_edit_ratio=1.5)
    with pytest.raises(ValidationError):
        QualityFilter(max_chars=0)
