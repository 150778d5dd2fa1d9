"""What the CLI tests share: running a command in-process and the shape of a usage error."""

from __future__ import annotations

import shlex

from click.testing import CliRunner, Result

from signalops_assets.cli.main import cli


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def run(command: str) -> Result:
    """`run("batches list --project spectra")`: one command line, split as a shell would."""
    return CliRunner().invoke(cli, shlex.split(command))


def one_line_error(result: Result, fragment: str) -> None:
    """Exit 2, one `error: ...` line on stderr naming `fragment`, and no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.output
