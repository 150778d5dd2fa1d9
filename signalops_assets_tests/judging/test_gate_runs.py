"""The offline gate recorded as two Langfuse dataset runs (candidate, current) on the held-out
eval dataset, through the real Langfuse SDK into the local Langfuse fake, by the command a user
runs (`signalops finetune create`)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from signalops_assets.judging.eval_dataset import eval_dataset_name, record_gate_runs
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.tracing import NoopTracer
from signalops_assets_tests.cli.helpers import run
from signalops_assets_tests.fakes.otlp_receiver import OTLPReceiver

REPO = Path(__file__).resolve().parents[2]
DATASET = eval_dataset_name("spectra")


@pytest.fixture
def traced(traced: OTLPReceiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> OTLPReceiver:
    monkeypatch.setenv("SIGNALOPS_MODELS_DIR", str(tmp_path / "models"))
    return traced


def runs(receiver: OTLPReceiver) -> dict[str, list[dict[str, Any]]]:
    """The experiment-item spans of each dataset run, by run name."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in receiver.spans("experiment-item-run"):
        out[span["attributes"]["langfuse.experiment.name"]].append(
            {**span["attributes"], "trace_id": span["trace_id"]}
        )
    return dict(out)


def test_the_gate_is_two_dataset_runs_on_the_eval_items(
    engine: Engine, traced: OTLPReceiver
) -> None:
    assert run(f"posts import {REPO / 'data/sample/posts.jsonl'} --project spectra").exit_code == 0
    assert run(f"judgments import-labels {REPO / 'data/sample/human_labels.csv'}").exit_code == 0
    created = run("finetune create --project spectra")
    assert created.exit_code == 0, created.output
    model_id = created.stdout.strip()
    gate = json.loads(run(f"model show {model_id}").stdout)["metrics"]["offline_gate"]
    training_set = gate["training_set_id"]

    items = {i["id"]: i for i in traced.dataset_items(DATASET)}
    assert len(items) == gate["n"] > 0
    dataset_id = traced.datasets()[DATASET]["id"]
    recorded = runs(traced)
    candidate = f"offline gate {training_set}: candidate {model_id}"
    current = f"offline gate {training_set}: current {gate['current']}"
    assert set(recorded) == {candidate, current}
    for spans in recorded.values():
        assert len({s["langfuse.experiment.id"] for s in spans}) == 1  # one run each
        assert {s["langfuse.experiment.item.id"] for s in spans} == set(items)
        assert {s["langfuse.experiment.dataset.id"] for s in spans} == {dataset_id}
    (cand_id,) = {s["langfuse.experiment.id"] for s in recorded[candidate]}
    (curr_id,) = {s["langfuse.experiment.id"] for s in recorded[current]}
    assert cand_id != curr_id

    # Each output is linked to its item, and the agreement scores add up to the gate's figures.
    agreement = traced.scores("agreement")
    assert len(agreement) == 2 * gate["n"]
    by_trace = {s["traceId"]: s["value"] for s in agreement}
    for name, key in ((candidate, "candidate_agreement"), (current, "current_agreement")):
        values = [by_trace[s["trace_id"]] for s in recorded[name]]
        assert sum(values) / len(values) == pytest.approx(gate[key])
    assert traced.secret_key.encode() not in b"".join(r.body for r in traced.requests)


def test_tracing_off_records_nothing(otlp_receiver: OTLPReceiver) -> None:
    post = PostInput(1, "x:1", "a", "", "text")
    answers = {"candidate": ("m", ["relevant"]), "current": ("n", [None])}
    assert record_gate_runs("spectra", [post], ["relevant"], answers, 1, NoopTracer()) == 0
    assert otlp_receiver.requests == []
