"""`make run`: migrate the embedded database, load the sample project, materialize every asset
through Dagster with the offline models, and say what happened."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
# The summary printed below is the output; Dagster's own event log stays in the instance (UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main() -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("DAGSTER_HOME", str(REPO / "data" / "dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)

    from dagster import AssetsDefinition, DagsterInstance, materialize

    from signalops_assets.config import configured_project_ids, load_project
    from signalops_assets.db.migrate import current_revision, ensure_schema
    from signalops_assets.db.session import cached_engine, database_url, session_scope
    from signalops_assets.definitions import defs
    from signalops_assets.posts import count_posts, ensure_project, import_posts
    from signalops_assets.redaction import redact_url

    url = database_url()
    engine = cached_engine(url)
    ensure_schema(engine)
    print(f"database: {redact_url(url)} (revision {current_revision(engine)})")
    for project_id in configured_project_ids():
        cfg = load_project(project_id)
        first_run = False
        with session_scope(engine) as session:
            ensure_project(session, cfg)
            if project_id == "spectra":
                report = import_posts(session, project_id, SAMPLE / "posts.jsonl")
                print(f"posts: {report.inserted} new, {report.duplicates} already loaded")
                _import_labels(session)
                first_run = not _has_experiment(session)
        if first_run:  # after the commit: training reads the labels just imported
            _train_gate_and_experiment(engine)
        with session_scope(engine) as session:
            print(
                f"project {project_id}: {count_posts(session, project_id)} posts, "
                f"judge {cfg.llm.judge_model}"
            )

    # Every materializable asset and asset check but the fine-tune loop's (run once above, on
    # the first run); `posts` is external (loaded above, not computed).
    job_assets = [
        a
        for a in defs.assets or []
        if isinstance(a, AssetsDefinition) and "fine_tuning" not in a.group_names_by_key.values()
    ]
    checks = [
        c
        for c in defs.asset_checks or []
        if isinstance(c, AssetsDefinition) and c.node_def.name != "candidate_offline_gate"
    ]
    result = materialize(
        [*job_assets, *checks],
        instance=DagsterInstance.get(),
        resources=defs.resources,
        run_config=QUIET,
    )
    if not result.success:
        print("materialization failed; see the run in the Dagster UI (make dev)", file=sys.stderr)
        return 1
    print(f"materialized through Dagster (run {result.run_id}):")
    _print_materializations(result.get_asset_materialization_events())
    _print_checks(result.get_asset_check_evaluations())

    # Reviewers at work: replay the sample's recorded decisions (as `signalops drafts edit`
    # would), then run the job draft_edits_sensor requests for them.
    from signalops_assets.preferences.recorded_reviews import replay_reviews

    with session_scope(engine) as session:
        replayed = replay_reviews(session, "spectra", SAMPLE / "reviews.jsonl")
    applied = ", ".join(f"{k}={v}" for k, v in sorted(replayed.applied.items())) or "none"
    print(
        f"sample reviews: applied {applied}; {replayed.already_reviewed} already reviewed"
        + "".join(f"; {e}" for e in replayed.errors)
    )
    export = defs.resolve_job_def("dpo_export_job").execute_in_process(
        instance=DagsterInstance.get(), run_config=QUIET
    )
    if not export.success:
        print("dpo_export_job failed; see the run in the Dagster UI (make dev)", file=sys.stderr)
        return 1
    print(f"dpo_export_job (run {export.run_id}):")
    _print_materializations(export.get_asset_materialization_events())
    _print_checks(export.get_asset_check_evaluations())
    print("\nOpen the UI: make dev   (then http://127.0.0.1:3000, same instance and database)")
    return 0


def _print_checks(evaluations: Sequence[Any]) -> None:
    for check in evaluations:
        outcome = "passed" if check.passed else f"FAILED ({check.severity.value})"
        print(
            f"  check {check.check_name} on {check.asset_key.to_user_string()}: {outcome}"
            + (f": {check.description}" if check.description else "")
        )


def _print_materializations(events: Sequence[Any]) -> None:
    for event in events:
        mat = event.materialization
        shown = {
            k: v.value
            for k, v in mat.metadata.items()
            if isinstance(v.value, int | float | str) and len(str(v.value)) < 80
        }
        print(
            f"  {mat.asset_key.to_user_string()}: "
            + ", ".join(f"{k}={v}" for k, v in list(shown.items())[:6])
        )


def _has_experiment(session: object) -> bool:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from signalops_assets.db.models import ABExperiment

    assert isinstance(session, Session)
    return bool(
        session.scalar(
            select(ABExperiment.experiment_id).where(ABExperiment.project_id == "spectra")
        )
    )


def _train_gate_and_experiment(engine: object) -> None:
    """The loop, offline, on the first run: a judge trained from the sample's human labels,
    registered with its lineage, gated on the held-out labels, then a shadow experiment
    keyword judge vs trained judge (both judge every post; the primary's label is acted on).
    If the gate fails, the experiment is the keyword judge against its strict variant."""
    from sqlalchemy import Engine

    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.service import create_experiment
    from signalops_assets.fine_tuning.service import (
        create_local_judge,
        gate_candidate,
        start_candidate_experiment,
    )
    from signalops_assets.llm.gateway import LLMGateway

    assert isinstance(engine, Engine)
    outcome = create_local_judge(engine, "spectra")
    counts = outcome.training_set.counts
    print(
        f"trained judge {outcome.model_id} from training set "
        f"{outcome.training_set.training_set_id} (train {sum(counts['train'].values())}, "
        f"held out {sum(counts['eval'].values())})"
    )
    assert outcome.model_id is not None
    gate = gate_candidate(engine, LLMGateway(), "spectra", outcome.model_id)
    print(gate.describe())
    if gate.passed:
        experiment_id = start_candidate_experiment(engine, "spectra", outcome.model_id, "shadow")
        canary = outcome.model_id
    else:
        with session_scope(engine) as session:
            experiment_id = create_experiment(
                session,
                "spectra",
                "local/keyword-judge",
                "local/keyword-judge-strict",
                0.5,
                mode="shadow",
                hypothesis="the strict keyword judge flags fewer irrelevant posts as relevant",
            ).experiment_id
        canary = "local/keyword-judge-strict"
    print(
        f"experiment {experiment_id}: local/keyword-judge vs {canary} (shadow mode; after the "
        f"run: signalops experiment results {experiment_id})"
    )


def _import_labels(session: object) -> None:
    labels = SAMPLE / "human_labels.csv"
    from signalops_assets.judging.labels import import_labels

    report = import_labels(session, labels, project_id="spectra")  # type: ignore[arg-type]
    print(f"human labels: {report.applied} applied from {labels.name}")


if __name__ == "__main__":
    raise SystemExit(main())
