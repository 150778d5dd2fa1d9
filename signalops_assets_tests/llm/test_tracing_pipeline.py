"""Tracing through the real pipeline: judged_posts with an A/B experiment, traced to a local
OTLP receiver by the real Langfuse SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import materialize
from sqlalchemy import Engine, select

from signalops_assets.db.models import ABExperiment, Judgment
from signalops_assets.db.session import session_scope
from signalops_assets.experiments.analysis_assets import experiment_analysis
from signalops_assets.judging.assets import judged_posts
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer
from signalops_assets_tests.fakes.otlp_receiver import PROJECT_ID, OTLPReceiver

SECRET = "sk-provider-secret-never-in-traces"


def test_ab_judgments_are_traced_with_tags_run_session_and_experiment_metadata(
    sqlite_engine: Engine,
    isolated_env: Path,
    fake_llm: FakeOpenAIServer,
    otlp_receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from signalops_assets.config import load_project
    from signalops_assets.posts import ensure_project, import_posts

    for name, value in otlp_receiver.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    posts = isolated_env / "few.jsonl"
    lines = (Path(__file__).resolve().parents[2] / "data/sample/posts.jsonl").read_text()
    posts.write_text("\n".join(lines.splitlines()[:12]) + "\n")
    with session_scope(sqlite_engine) as session:
        ensure_project(session, load_project("spectra"))
        import_posts(session, "spectra", posts)
        session.add(
            ABExperiment(
                experiment_id="exp-trace",
                project_id="spectra",
                primary_model="openai/judge-a",
                canary_model="openai/judge-b",
                canary_pct=0.5,
                mode="shadow",
            )
        )
    result = materialize(
        [judged_posts],
        resources={
            "database": DatabaseResource(url=str(sqlite_engine.url)),
            "llm": LLMResource(api_base=fake_llm.base_url),
        },
    )
    assert result.success
    # Links to the Langfuse UI: this run's session and the experiment's tagged traces.
    project = f"{otlp_receiver.base_url.rstrip('/')}/project/{PROJECT_ID}"
    judged = result.asset_materializations_for_node("judged_posts")[0].metadata
    assert judged["langfuse_session"].value == f"{project}/sessions/{result.run_id}"
    assert judged["langfuse_traces"].value == f"{project}/traces"
    analysis = (
        materialize(
            [experiment_analysis],
            resources={"database": DatabaseResource(url=str(sqlite_engine.url))},
        )
        .asset_materializations_for_node("experiment_analysis")[0]
        .metadata
    )
    tag_filter = "tags%3BarrayOptions%3B%3Bany%20of%3Bexperiment%3Aexp-trace"
    assert analysis["exp-trace/langfuse_traces"].value == f"{project}/traces?filter={tag_filter}"
    shown = str({**judged, **analysis})
    for key in (*otlp_receiver.env().values(), SECRET):
        if key.startswith(("pk-", "sk-")):
            assert key not in shown
    # Nothing flushed here: the project loop sent each project's spans before the step ended.

    judge_spans = otlp_receiver.spans("judge_relevance")
    assert len(judge_spans) == 24  # shadow: both arms judge each of the 12 posts
    by_id = {s["span_id"]: s for s in otlp_receiver.spans()}
    arms = set()
    for span in judge_spans:
        attrs = span["attributes"]
        tags = set(attrs["langfuse.trace.tags"])
        assert {"ab-test", "experiment:exp-trace"} <= tags
        arms |= {t for t in tags if t.startswith("arm:")}
        # One session per Dagster run; experiment and arm are filterable trace metadata too.
        assert attrs["session.id"] == result.run_id
        assert json.loads(attrs["langfuse.trace.metadata.dagster_run_id"]) == result.run_id
        assert json.loads(attrs["langfuse.trace.metadata.experiment_id"]) == "exp-trace"
        assert json.loads(attrs["langfuse.trace.metadata.project"]) == "spectra"
        arm = json.loads(attrs["langfuse.trace.metadata.arm"])
        assert f"arm:{arm}" in tags
    assert arms == {"arm:primary", "arm:canary"}
    generations = [
        s
        for s in otlp_receiver.spans()
        if s["attributes"].get("langfuse.observation.type") == "generation"
    ]
    assert len(generations) == 24
    for gen in generations:
        assert by_id[gen["parent_span_id"]]["name"] == "judge_relevance"
        usage = json.loads(gen["attributes"]["langfuse.observation.usage_details"])
        assert usage["input"] > 0 and usage["output"] > 0
    raw = b"".join(r.body for r in otlp_receiver.requests)
    assert SECRET.encode() not in raw
    with session_scope(sqlite_engine) as session:
        trace_ids = set(session.scalars(select(Judgment.trace_id)))
    assert None not in trace_ids and len(trace_ids) == 24
