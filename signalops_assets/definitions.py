"""The code location: one Definitions object for the whole project.

`build_definitions` is the factory; `defs` is what the code location loads, built from the
deployment's settings (SIGNALOPS_PARTITIONED, SIGNALOPS_EXECUTOR). Tests build either variant
directly, with no environment variable and no re-import.
"""

from dagster import AssetsDefinition, Definitions, ExecutorDefinition, in_process_executor

from signalops_assets.experiments.analysis_assets import (
    experiment_analysis,
    experiment_analysis_job,
    experiment_srm_check,
    judge_promotion,
    nightly_experiment_analysis,
    promote_judge_job,
    promotion_sensor,
)
from signalops_assets.experiments.assets import ab_results
from signalops_assets.fine_tuning.assets import (
    candidate_experiment,
    candidate_gate_job,
    candidate_offline_gate,
    fine_tune_job,
    fine_tuned_judge,
    judge_training_set,
)
from signalops_assets.fine_tuning.sensors import fine_tune_job_sensor
from signalops_assets.jobs import deployment_executor, judging_job
from signalops_assets.judging.assets import judged_posts, posts
from signalops_assets.judging.batch_sensors import llm_batch_sensor
from signalops_assets.judging.checks import judged_posts_failure_rate
from signalops_assets.judging.partitions import build_partitioned_judged_posts
from signalops_assets.preferences.argilla_assets import argilla_dataset
from signalops_assets.preferences.assets import (
    dpo_jsonl,
    dpo_jsonl_valid,
    drafts,
    preference_pairs,
)
from signalops_assets.preferences.freshness_check import dpo_jsonl_fresh
from signalops_assets.preferences.sensors import dpo_export_job, draft_edits_sensor
from signalops_assets.resources import default_resources
from signalops_assets.settings import settings


def build_definitions(
    *, partitioned: bool = False, executor: ExecutorDefinition | None = None
) -> Definitions:
    """Every asset, check, job, sensor and schedule of the project.

    partitioned: `judged_posts` is the variant with one partition per UTC post day (scale-out
    backfills); same key, group and `llm` pool. executor: for every job (default in-process).
    """
    judging: AssetsDefinition = build_partitioned_judged_posts() if partitioned else judged_posts
    return Definitions(
        assets=[
            posts,
            judging,
            ab_results,
            experiment_analysis,
            judge_promotion,
            drafts,
            preference_pairs,
            dpo_jsonl,
            argilla_dataset,
            judge_training_set,
            fine_tuned_judge,
            candidate_experiment,
        ],
        asset_checks=[
            experiment_srm_check,
            dpo_jsonl_valid,
            dpo_jsonl_fresh,
            judged_posts_failure_rate,
            candidate_offline_gate,
        ],
        jobs=[
            judging_job,
            experiment_analysis_job,
            dpo_export_job,
            fine_tune_job,
            candidate_gate_job,
            promote_judge_job,
        ],
        sensors=[draft_edits_sensor, promotion_sensor, fine_tune_job_sensor, llm_batch_sensor],
        schedules=[nightly_experiment_analysis],
        resources=default_resources(),
        executor=executor or in_process_executor,
    )


# The code location: SIGNALOPS_PARTITIONED picks the variant, SIGNALOPS_EXECUTOR the executor.
defs = build_definitions(partitioned=settings().partitioned, executor=deployment_executor())
