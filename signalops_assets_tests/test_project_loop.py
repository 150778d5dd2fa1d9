"""The one loop over configured projects: a broken file never stops the others, each project
runs in its own trace context (real Langfuse SDK to the local receiver), flushed after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signalops_assets.errors import ConfigError
from signalops_assets.llm.tracing import get_tracer
from signalops_assets.project_loop import configured_projects
from signalops_assets_tests.fakes.otlp_receiver import OTLPReceiver


@pytest.fixture
def three_projects(isolated_env: Path) -> Path:
    projects = isolated_env / "projects"
    text = (projects / "spectra.yaml").read_text()
    (projects / "nova.yaml").write_text(text.replace("spectra", "nova"))
    (projects / "alpha.yaml").write_text("project_id: alpha\nllm: [not, a, mapping]\n")
    return projects


def test_broken_projects_are_kept_for_the_end(three_projects: Path) -> None:
    loop = configured_projects()
    assert loop.project_ids == ["nova", "spectra"]
    assert [p.project_id for p in loop] == ["nova", "spectra"]
    failure = loop.failure()
    assert failure is not None and failure.startswith("1 project(s) not processed (alpha)")


def test_strict_refuses_before_any_work_and_one_project_is_one(three_projects: Path) -> None:
    with pytest.raises(ConfigError, match=r"not processed \(alpha\)"):
        configured_projects(strict=True)
    assert configured_projects(project_id="nova", strict=True).project_ids == ["nova"]
    with pytest.raises(ConfigError):
        configured_projects(project_id="alpha")


def test_each_project_is_traced_and_flushed_after_it(
    three_projects: Path, traced: OTLPReceiver
) -> None:
    seen: list[list[str]] = []
    for project in configured_projects(run_id="run-42"):
        with get_tracer().span(f"work-{project.project_id}"):
            pass
        seen.append(traced.names())  # what the receiver holds while this project runs
    # The flush after each project exported its span before the next one started.
    assert seen == [[], ["work-nova"]]
    assert traced.names() == ["work-nova", "work-spectra"]
    for name, project_id in (("work-nova", "nova"), ("work-spectra", "spectra")):
        attributes = traced.span(name)["attributes"]
        assert json.loads(attributes["langfuse.trace.metadata.project"]) == project_id
        assert json.loads(attributes["langfuse.trace.metadata.dagster_run_id"]) == "run-42"
        assert attributes["session.id"] == "run-42"
