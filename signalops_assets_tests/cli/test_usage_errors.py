"""Usage errors (bad option values, missing options, unknown commands) are one line on stderr
with exit code 2 and a pointer to --help, like every other CLI error."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from signalops_assets.cli.main import cli


@pytest.mark.parametrize(
    ("args", "fragment", "help_of"),
    [
        (
            ["export", "training-data", "--type", "nope"],
            "'nope' is not one of",
            "export training-data",
        ),
        (
            ["experiment", "create", "--project", "spectra"],
            "Missing option '--primary'",
            "experiment create",
        ),
        (["model", "list", "--type", "oracle"], "'oracle' is not one of", "model list"),
        (["drafts", "show", "abc"], "'abc' is not a valid integer", "drafts show"),
        (["nosuch"], "No such command 'nosuch'", ""),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], fragment: str, help_of: str) -> None:
    result = CliRunner().invoke(cli, args, prog_name="signalops")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert fragment in result.stderr
    assert f"signalops {help_of} --help".replace("  ", " ") in result.stderr
    assert "Usage:" not in result.output and "Traceback" not in result.output


def test_help_still_prints_usage() -> None:
    result = CliRunner().invoke(cli, ["drafts", "list", "--help"], prog_name="signalops")
    assert result.exit_code == 0 and result.output.startswith("Usage: signalops drafts list")
