"""Dagster wiring of the fine-tune loop: training set → trained candidate → offline gate
(a blocking check) → an experiment against the current judge when `experiments.auto_start`."""

from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetSelection,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    define_asset_job,
)

from signalops_assets.conventions import OWNERS, fail_for_broken_projects, llm_asset, tags
from signalops_assets.project_loop import configured_projects
from signalops_assets.resources import DatabaseResource, LLMResource


@asset(group_name="fine_tuning", kinds={"python"}, owners=OWNERS, tags=tags("fine_tuning"))
def judge_training_set(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """Human labels as judge training examples, with a held-out eval split by a hash of the
    post's content; each set is recorded in `training_sets` with its files' sha256."""
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.fine_tuning.training_sets import build_judge_training_set

    metadata: dict[str, Any] = {}
    loop = configured_projects(run_id=context.run_id)
    for project in loop:
        project_id = project.project_id
        try:
            summary = build_judge_training_set(database.engine(), project_id, project=project)
        except SignalOpsError as exc:  # too few labels yet: nothing written, say why
            context.log.warning(str(exc))
            metadata[f"{project_id}/skipped"] = MetadataValue.text(str(exc))
            continue
        counts = summary.counts
        metadata[f"{project_id}/training_set_id"] = MetadataValue.int(summary.training_set_id)
        metadata[f"{project_id}/train"] = MetadataValue.int(sum(counts["train"].values()))
        metadata[f"{project_id}/eval"] = MetadataValue.int(sum(counts["eval"].values()))
        metadata[f"{project_id}/train_file"] = MetadataValue.path(str(summary.paths["train"]))
        context.log.info(f"{project_id}: training set {summary.training_set_id}: {counts}")
    fail_for_broken_projects(loop.failure(), metadata)
    return MaterializeResult(metadata=metadata)


@llm_asset(
    "fine_tuning",
    deps=[judge_training_set],
    kinds={"scikitlearn", "litellm"},
    retry_policy=None,  # training fails the same way twice; a provider hiccup is the sensor's
)
def fine_tuned_judge(
    context: AssetExecutionContext, database: DatabaseResource, llm: LLMResource
) -> MaterializeResult[None]:
    """A candidate judge from the latest training set, one per set: `fine_tuning.backend:
    local` trains and registers it now; `litellm` submits a provider job that
    `fine_tune_job_sensor` polls and registers. Experiments exclude its training posts."""
    from signalops_assets.fine_tuning.service import ensure_candidate, latest_training_set

    metadata: dict[str, Any] = {}
    loop = configured_projects(run_id=context.run_id)
    for cfg in loop:
        project_id = cfg.project_id
        summary = latest_training_set(database.engine(), project_id)
        if summary is None:
            context.log.info(f"{project_id}: no training set yet")
            continue
        state = ensure_candidate(database.engine(), summary, cfg, llm.settings(cfg.llm).api_base)
        metadata[f"{project_id}/job_id"] = MetadataValue.int(state.job_id)
        metadata[f"{project_id}/status"] = MetadataValue.text(state.status)
        metadata[f"{project_id}/model_id"] = MetadataValue.text(str(state.model_id))
        verb = "started" if state.new else "existing"
        context.log.info(
            f"{project_id}: training set {summary.training_set_id}: {verb} job "
            f"{state.job_id} ({cfg.fine_tuning.backend}) {state.status} -> {state.model_id}"
        )
    fail_for_broken_projects(loop.failure(), metadata)
    return MaterializeResult(metadata=metadata)


@asset_check(asset=fine_tuned_judge, blocking=True)
def candidate_offline_gate(
    context: AssetCheckExecutionContext, database: DatabaseResource, llm: LLMResource
) -> AssetCheckResult:
    """Candidate vs current judge on held-out human labels; fails (and blocks the experiment)
    when the candidate is worse by more than `fine_tuning.gate_margin`."""
    from signalops_assets.fine_tuning.service import gate_candidate, latest_candidate

    engine = database.engine()
    metadata: dict[str, Any] = {}
    loop = configured_projects(run_id=context.run.run_id)
    broken = loop.failure()
    failed: list[str] = [broken] if broken else []
    for project in loop:
        project_id = project.project_id
        model_id = latest_candidate(engine, project_id)
        if model_id is None:
            continue
        result = gate_candidate(engine, llm.gateway(), project_id, model_id)
        context.log.info(f"{project_id}: {result.describe()}")
        metadata[f"{project_id}/candidate_agreement"] = MetadataValue.float(
            result.candidate_agreement
        )
        metadata[f"{project_id}/current_agreement"] = MetadataValue.float(result.current_agreement)
        metadata[f"{project_id}/diff"] = MetadataValue.float(result.diff)
        metadata[f"{project_id}/held_out"] = MetadataValue.int(result.n)
        if not result.passed:
            failed.append(f"{project_id}: {result.describe()}")
    return AssetCheckResult(
        passed=not failed,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(failed) or "every candidate passed its offline gate",
        metadata=metadata,
    )


@asset(
    deps=[fine_tuned_judge],
    group_name="fine_tuning",
    kinds={"python"},
    owners=OWNERS,
    tags=tags("fine_tuning"),
)
def candidate_experiment(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult[None]:
    """With `experiments.auto_start: shadow | split`, an experiment current judge vs the gated
    candidate starts (runs only after `candidate_offline_gate` passed)."""
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.fine_tuning.service import latest_candidate, start_candidate_experiment

    engine = database.engine()
    metadata: dict[str, Any] = {}
    loop = configured_projects(run_id=context.run_id)
    for project in loop:
        project_id = project.project_id
        mode = project.experiments.auto_start
        model_id = latest_candidate(engine, project_id)
        if mode is None or model_id is None:
            reason = "auto_start off" if mode is None else "no new candidate (job pending?)"
            metadata[f"{project_id}/started"] = MetadataValue.text(reason)
            continue
        try:
            experiment_id = start_candidate_experiment(engine, project_id, model_id, mode)
        except SignalOpsError as exc:  # e.g. another experiment is active: say so, go on
            context.log.warning(f"{project_id}: {exc}")
            metadata[f"{project_id}/started"] = MetadataValue.text(f"not started: {exc}")
            continue
        metadata[f"{project_id}/started"] = MetadataValue.text(experiment_id)
        context.log.info(f"{project_id}: started {mode} experiment {experiment_id}")
    fail_for_broken_projects(loop.failure(), metadata)
    return MaterializeResult(metadata=metadata)


fine_tune_job = define_asset_job(
    "fine_tune_job",
    selection=AssetSelection.assets(judge_training_set, fine_tuned_judge, candidate_experiment),
    description="Train a candidate judge from human labels, gate it offline, start its experiment.",
)

# What fine_tune_job_sensor runs once a remote job's model is registered: the same gate and
# experiment. fine_tuned_judge finds the latest training set's job and submits nothing new
# (unless a newer training set was built since, which then gets its own job).
candidate_gate_job = define_asset_job(
    "candidate_gate_job",
    selection=AssetSelection.assets(fine_tuned_judge, candidate_experiment),
    description="Gate a registered remote candidate offline and start its experiment.",
)
