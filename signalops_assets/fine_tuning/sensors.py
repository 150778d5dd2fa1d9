"""fine_tune_job_sensor: polls remote fine-tune jobs; the logic is in `remote.py`.

Nothing it must not forget lives in the cursor: the database says which jobs are pending and
whether a job's model is registered (exactly once, by the job's conditional update), so a
daemon restart with an old cursor, or none, registers nothing twice. A registered model that
has no offline gate yet gets one `candidate_gate_job` run (the run key dedupes re-ticks).
"""

from dagster import RunRequest, SensorEvaluationContext, SensorResult, sensor

from signalops_assets.fine_tuning.assets import candidate_gate_job
from signalops_assets.resources import DatabaseResource, LLMResource


@sensor(job=candidate_gate_job, minimum_interval_seconds=120)
def fine_tune_job_sensor(
    context: SensorEvaluationContext, database: DatabaseResource, llm: LLMResource
) -> SensorResult:
    """Poll pending remote jobs; register succeeded models (once), record why others failed
    or were cancelled, then request the offline gate for each newly registered model."""
    from signalops_assets.fine_tuning.remote import (
        api_base_from,
        poll_remote_jobs,
        ungated_remote_models,
    )
    from signalops_assets.llm.settings import LLMSettings

    engine = database.engine()
    defaults = LLMSettings(api_base=llm.api_base or None)
    for outcome in poll_remote_jobs(engine, api_base_from(defaults)):
        line = f"fine-tune job {outcome.job_id}: {outcome.status} {outcome.detail}"
        if outcome.registered:
            line += f"; registered {outcome.model_id}"
        (context.log.warning if outcome.status == "unknown" else context.log.info)(line)
    requests = [
        RunRequest(run_key=f"gate:{model_id}", tags={"fine_tune_job": str(job_id)})
        for job_id, _, model_id in ungated_remote_models(engine)
    ]
    return SensorResult(run_requests=requests)
