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


def deployment_executor() -> ExecutorDefinition | None:
    """The executor for every job: Dagster's default (multiprocess) unless
    SIGNALOPS_EXECUTOR=celery, which runs each step as a Celery task (dagster-celery; configure
    it with deploy/dagster.celery.yaml as run config)."""
    from signalops_assets.settings import settings

    if settings().executor == "celery":
        try:
            from dagster_celery import celery_executor  # type: ignore[import-not-found]
        except ImportError as exc:
            raise RuntimeError(
                f"{EXECUTOR_ENV}=celery needs the dagster-celery package "
                "(same release train as dagster-postgres)"
            ) from exc
        executor: ExecutorDefinition = celery_executor
        return executor
    return None
