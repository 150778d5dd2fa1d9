"""Jobs that CI, the UI and the daemon launch, and the executor chosen by deployment.

`dpo_export_job` lives beside the sensor that requests it (preferences/sensors.py) and
`experiment_analysis_job` beside its schedule; this module holds the jobs with no other home.
"""

from dagster import AssetSelection, ExecutorDefinition, define_asset_job

JUDGING_ASSETS = ("judged_posts", "ab_results", "drafts")

judging_job = define_asset_job(
    "judging_job",
    selection=AssetSelection.assets(*JUDGING_ASSETS),
    description="Judge pending posts, summarise the A/B arms and draft replies to relevant posts.",
)

EXECUTOR_ENV = "SIGNALOPS_EXECUTOR"
CHOICES = ("in_process", "multiprocess", "forkserver", "celery")


def deployment_executor() -> ExecutorDefinition:
    """The executor for every job, by SIGNALOPS_EXECUTOR:

    - unset / `in_process` (the embedded default): every step in the run's own process, so a
      step pays no interpreter start and no re-import of the code location (bench/dagster_runs);
      the `llm` pool still caps concurrent LLM steps across runs.
    - `multiprocess`: Dagster's default, one spawned process per step (parallel steps).
    - `forkserver`: multiprocess, steps forked from a server that preloaded the code location.
    - `celery`: each step a Celery task (dagster-celery; run config from
      deploy/dagster.celery.yaml).
    """
    from dagster import in_process_executor, multiprocess_executor

    from signalops_assets.settings import settings

    choice = settings().executor  # validated there: a wrong value is one line
    if choice in {"in_process", "default"}:
        return in_process_executor
    if choice == "multiprocess":
        return multiprocess_executor
    if choice == "forkserver":
        preload = {"preload_modules": ["signalops_assets.definitions"]}
        return multiprocess_executor.configured({"start_method": {"forkserver": preload}})
    if choice == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError as exc:
            raise RuntimeError(
                f"{EXECUTOR_ENV}=celery needs the `celery` extra "
                "(dagster-celery at the dagster-postgres version, and redis)"
            ) from exc
        executor: ExecutorDefinition = celery_executor
        return executor
    raise RuntimeError(f"{EXECUTOR_ENV}={choice!r}: expected one of {', '.join(CHOICES)}")
