"""One frozen reader of SIGNALOPS_*: read when used, a wrong value is one line naming it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from signalops_assets.cli.main import cli
from signalops_assets.settings import SettingsError, settings

PACKAGE = Path(__file__).resolve().parents[1] / "signalops_assets"


def test_defaults_and_frozen() -> None:
    s = settings({})
    assert (s.database_url, s.projects, s.sensor_interval_s, s.partitioned) == (None, (), 30, False)
    assert s.analysis_cron == "0 2 * * *" and s.executor == "in_process"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.sensor_interval_s = 5  # type: ignore[misc]


def test_read_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALOPS_PROJECT", "a, b")
    assert settings().projects == ("a", "b")
    monkeypatch.setenv("SIGNALOPS_PROJECT", "c")
    assert settings().projects == ("c",)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("SIGNALOPS_SENSOR_INTERVAL_S", "soon", "expected a whole number"),
        ("SIGNALOPS_SENSOR_INTERVAL_S", "0", "between 1 and 86400"),
        ("SIGNALOPS_SENSOR_INTERVAL_S", "9" * 40, "expected a whole number"),
        ("SIGNALOPS_PARTITIONED", "maybe", "expected 1/0"),
        ("SIGNALOPS_PARTITIONS_START", "yesterday", "expected a date"),
        ("SIGNALOPS_EXECUTOR", "ray", "expected one of"),
        ("SIGNALOPS_ANALYSIS_CRON", "nightly", "5-field cron"),
        ("SIGNALOPS_LLM_API_BASE", "localhost:4000", "http:// or https://"),
        ("SIGNALOPS_PROJECT", "spectra,../etc", "is not a project id"),
        ("SIGNALOPS_DATABASE_URL", "data/signalops.db", "expected a URL"),
    ],
)
def test_wrong_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        settings()
    message = str(info.value)
    assert message.startswith(f"{name}=") and fragment in message and "\n" not in message
    result = CliRunner().invoke(cli, ["model", "list"])
    assert result.exit_code == 2 and result.stderr == f"error: {message}\n"


def test_no_other_module_reads_signalops_variables() -> None:
    reader = re.compile(r"(os\.environ(\.get)?|os\.getenv)\s*[\[(]\s*[\"']SIGNALOPS_")
    allowed = {"settings.py"}
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name not in allowed and reader.search(p.read_text())
    ]
    assert offenders == []
