"""Hypothesis profiles for the fuzz tests: `ci` (the default) keeps the suite fast; run
`SIGNALOPS_FUZZ_PROFILE=long pytest signalops_assets_tests/cli -k fuzz` (or pass
`--hypothesis-profile=long`) by hand for a longer search."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # a shared 2-core machine: timing varies, correctness does not
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=25, database=None, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("SIGNALOPS_FUZZ_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter: object) -> None:
    from signalops_assets_tests.cli.fuzz_helpers import EXAMPLES

    if EXAMPLES:
        shown = ", ".join(f"{name}: {n}" for name, n in sorted(EXAMPLES.items()))
        terminalreporter.write_line(f"fuzz examples run: {shown}")  # type: ignore[attr-defined]
