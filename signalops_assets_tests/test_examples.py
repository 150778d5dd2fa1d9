"""The example CI workflow runs things that exist: a registered Dagster job and CLI options the
`signalops` command accepts. Renaming the job or an option fails here, not in someone's CI."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "examples" / "ci" / "export-training-data.yml"


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def commands() -> list[list[str]]:
    steps = [s for job in workflow()["jobs"].values() for s in job["steps"]]
    return [shlex.split(line) for s in steps for line in str(s.get("run", "")).splitlines()]


def command(program: str) -> list[str]:
    found = [c for c in commands() if c and Path(c[0]).name == program]
    assert found, f"no {program} command in {WORKFLOW.name}"
    return found[-1]


def test_triggers_nightly_and_on_demand() -> None:
    data = workflow()
    triggers = data["on"] if "on" in data else data[True]  # YAML 1.1 reads a bare `on` as true
    assert "workflow_dispatch" in triggers
    assert [s["cron"] for s in triggers["schedule"]] == ["30 3 * * *"]
    env = data["env"]
    assert env["SIGNALOPS_DATABASE_URL"] == "${{ secrets.SIGNALOPS_DATABASE_URL }}"


def test_steps_install_migrate_export_and_upload() -> None:
    steps = [s for job in workflow()["jobs"].values() for s in job["steps"]]
    runs = [s.get("run", s.get("uses", "")) for s in steps]
    order = ["make install", "db upgrade", "dagster job execute", "export training-data"]
    positions = [next(i for i, r in enumerate(runs) if part in r) for part in order]
    assert positions == sorted(positions)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "data/exports"


def test_dagster_command_names_a_registered_job() -> None:
    from signalops_assets.definitions import defs

    args = command("dagster")
    assert args[1:3] == ["job", "execute"] and "--workspace" not in args
    assert args[args.index("-m") + 1] == "signalops_assets.definitions"
    job_name = args[args.index("-j") + 1]
    assert defs.resolve_job_def(job_name).name == job_name == "dpo_export_job"


def test_signalops_commands_parse() -> None:
    """Every `signalops` line resolves to a command and its options parse (nothing runs)."""
    import click

    from signalops_assets.cli.main import cli

    lines = [c for c in commands() if c and Path(c[0]).name == "signalops"]
    assert len(lines) == 2
    for args in lines:
        group: click.Command = cli
        rest = args[1:]
        while isinstance(group, click.Group):
            sub = group.get_command(click.Context(group), rest[0])
            assert sub is not None, f"unknown command {rest[0]!r} in {shlex.join(args)}"
            group, rest = sub, rest[1:]
        group.make_context(group.name or "signalops", list(rest))  # raises on an unknown option
    export = next(a for a in lines if "export" in a)
    assert export[export.index("--type") + 1] == "judgments"
