"""The code location: one Definitions object for the whole project."""

from dagster import Definitions

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
from signalops_assets.judging.partitions import build_partitioned_judged_posts, partitioned_enabled
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

# SIGNALOPS_PARTITIONED=1: the same judged_posts, one partition per post day (scale-out).
judged_posts_asset = build_partitioned_judged_posts() if partitioned_enabled() else judged_posts


defs = Definitions(
    assets=[
        posts,
        judged_posts_asset,
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
    # In-process on the embedded default; SIGNALOPS_EXECUTOR picks multiprocess or celery.
    executor=deployment_executor(),
)
