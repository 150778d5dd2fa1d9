"""Langfuse scores for judgments through the real Langfuse SDK into the local Langfuse fake:
`judge_label` at judge time, `human_label` on every judgment of a post by every label path,
one score per (trace, name) however often a post is relabelled, nothing when tracing is off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from signalops_assets.cli.main import cli
from signalops_assets.config import load_project
from signalops_assets.db.models import ABExperiment, Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.factory import create_judge
from signalops_assets.judging.labels import label_judgment
from signalops_assets.judging.service import judge_pending
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.trace_ids import score_id_for
from signalops_assets.llm.tracing import get_tracer
from signalops_assets.posts import ensure_project, import_posts
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer
from signalops_assets_tests.fakes.otlp_receiver import SCORES_PATH, OTLPReceiver

REPO = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "sk-provider-secret-never-in-scores-0123"


def judge_shadow_experiment(engine: Engine, fake_llm: FakeOpenAIServer, tmp: Path) -> None:
    posts = tmp / "few.jsonl"
    lines = (REPO / "data/sample/posts.jsonl").read_text().splitlines()[:6]
    posts.write_text("\n".join(lines) + "\n")
    project = load_project("spectra")
    with session_scope(engine) as session:
        ensure_project(session, project)
        import_posts(session, "spectra", posts)
        session.add(
            ABExperiment(
                experiment_id="exp-score",
                project_id="spectra",
                primary_model="openai/judge-a",
                canary_model="openai/judge-b",
                canary_pct=0.5,
                mode="shadow",
            )
        )
    gateway = LLMGateway(api_base=fake_llm.base_url, api_key=PROVIDER_KEY, num_retries=0)
    with session_scope(engine) as session:
        judge = create_judge(session, gateway, project)
    judge_pending(engine, "spectra", judge)
    get_tracer().flush()


def judgments_by_post(engine: Engine) -> dict[int, list[Judgment]]:
    with session_scope(engine) as session:
        rows = list(session.scalars(select(Judgment).order_by(Judgment.id)))
    out: dict[int, list[Judgment]] = {}
    for row in rows:
        out.setdefault(row.post_id, []).append(row)
    return out


def test_judge_and_human_labels_are_one_categorical_score_per_trace(
    engine: Engine, fake_llm: FakeOpenAIServer, traced: OTLPReceiver, isolated_env: Path
) -> None:
    judge_shadow_experiment(engine, fake_llm, isolated_env)
    by_post = judgments_by_post(engine)
    assert len(by_post) == 6 and all(len(rows) == 2 for rows in by_post.values())
    judged = [row for rows in by_post.values() for row in rows]

    judge_scores = {s["traceId"]: s for s in traced.scores("judge_label")}
    assert len(traced.sent_scores()) == len(judge_scores) == 12
    for row in judged:
        score = judge_scores[row.trace_id]
        assert score["id"] == score_id_for(str(row.trace_id), "judge_label")
        assert (score["value"], score["dataType"]) == (row.label, "CATEGORICAL")
        assert score["metadata"] == {
            "experiment_id": "exp-score",
            "arm": row.arm,
            "model": row.model_id,
            "judge_key": row.judge_key,
            "post_id": row.post_id,
            "confidence": row.confidence,
        }
    assert {s["metadata"]["arm"] for s in judge_scores.values()} == {"primary", "canary"}

    # `judgments label` on the canary's judgment scores both arms of that post ...
    post_a, post_b, post_c = list(by_post)[:3]
    canary = next(r for r in by_post[post_a] if r.arm == "canary")
    runner = CliRunner()
    assert runner.invoke(cli, ["judgments", "label", str(canary.id), "relevant"]).exit_code == 0
    # ... relabelling replaces those two scores, and import-labels goes the same way.
    assert runner.invoke(cli, ["judgments", "label", str(canary.id), "irrelevant"]).exit_code == 0
    labels = isolated_env / "labels.csv"
    labels.write_text(f"post_id,label\n{post_b},maybe\n{post_c},relevant\n{post_b},irrelevant\n")
    result = runner.invoke(cli, ["judgments", "import-labels", str(labels)])
    assert result.exit_code == 0, result.output

    human = {s["traceId"]: s for s in traced.scores("human_label")}
    expected = {post_a: "irrelevant", post_b: "irrelevant", post_c: "relevant"}
    assert len(human) == 6  # three posts, two judgments each: one score per trace
    for post_id, label in expected.items():
        for row in by_post[post_id]:
            score = human[row.trace_id]
            assert score["id"] == score_id_for(str(row.trace_id), "human_label")
            assert (score["value"], score["dataType"]) == (label, "CATEGORICAL")
            assert score["metadata"] == {
                "experiment_id": "exp-score",
                "arm": row.arm,
                "model": row.model_id,
                "judge_key": row.judge_key,
                "post_id": post_id,
                "judgment_id": row.id,
            }
            assert score["comment"] == f"judge said {row.label}"
    # Relabels were sent again under the same ids; Langfuse keeps one score per id. One import
    # sends a post's final label once, however many of its rows name it.
    sent_human = [s for s in traced.sent_scores() if s["name"] == "human_label"]
    assert len(sent_human) == 2 + 2 + 2 * 2 and len({s["id"] for s in sent_human}) == 6

    score_requests = [r for r in traced.requests if r.path == SCORES_PATH]
    assert score_requests and all(r.authorized for r in score_requests)
    sent = b"".join(r.body for r in traced.requests) + json.dumps(traced.spans()).encode()
    assert PROVIDER_KEY.encode() not in sent and traced.secret_key.encode() not in sent
    assert not any(PROVIDER_KEY in json.dumps(r.headers) for r in traced.requests)


def test_a_rolled_back_label_is_never_scored(
    engine: Engine, fake_llm: FakeOpenAIServer, traced: OTLPReceiver, isolated_env: Path
) -> None:
    judge_shadow_experiment(engine, fake_llm, isolated_env)
    judgment = judgments_by_post(engine).popitem()[1][0]
    traced.clear()
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        label_judgment(session, judgment.id, "relevant")
        raise RuntimeError("the caller fails before commit")
    with session_scope(engine) as session:  # the same session type, a later good label
        label_judgment(session, judgment.id, "maybe")
    assert [(s["name"], s["value"]) for s in traced.sent_scores()] == [("human_label", "maybe")] * 2
    with session_scope(engine) as session:
        assert session.get(Post, judgment.post_id).human_label == "maybe"  # type: ignore[union-attr]


def test_tracing_off_sends_nothing_and_queues_nothing(
    engine: Engine,
    fake_llm: FakeOpenAIServer,
    otlp_receiver: OTLPReceiver,
    isolated_env: Path,
) -> None:
    assert not get_tracer().enabled  # no LANGFUSE_* variables (isolated_env removed them)
    judge_shadow_experiment(engine, fake_llm, isolated_env)
    judgment = judgments_by_post(engine).popitem()[1][0]
    assert judgment.trace_id is None
    with session_scope(engine) as session:
        label_judgment(session, judgment.id, "relevant")
        assert session.info == {}  # no listener, no pending scores
    assert CliRunner().invoke(cli, ["judgments", "label", str(judgment.id), "maybe"]).exit_code == 0
    assert otlp_receiver.requests == []
