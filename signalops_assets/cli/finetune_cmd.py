from __future__ import annotations

import click

from signalops_assets.cli import common
from signalops_assets.vocab import ModelType, values


@click.group()
def finetune() -> None:
    """Fine-tune a judge from human labels: training set, training, registry, offline gate."""


@finetune.command()
@click.option("--project", "project_id", required=True)
@click.option("--type", "model_type", type=click.Choice(values(ModelType)), default="judge")
@click.option(
    "--backend",
    type=click.Choice(["local", "litellm"]),
    default=None,
    help="Default: the project's fine_tuning.backend",
)
@click.option("--name", default=None, help="Model name (default: <project>-judge)")
@click.option("--gate/--no-gate", default=True, help="Run the offline gate on held-out labels")
def create(
    project_id: str, model_type: str, backend: str | None, name: str | None, gate: bool
) -> None:
    """Build a training set and train a candidate; prints the registered model id."""
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.fine_tuning.service import create_local_judge, gate_candidate

    cfg = common.project(project_id)
    backend = backend or cfg.fine_tuning.backend
    if model_type != "judge" or backend != "local":
        raise SignalOpsError(
            f"--type {model_type} --backend {backend} is not available yet: only the local "
            "judge backend is built (see README, fine-tuning)"
        )
    engine = common.engine()
    outcome = create_local_judge(engine, project_id, name=name, project=cfg)
    counts = outcome.training_set.counts
    click.echo(
        f"training set {outcome.training_set.training_set_id}: train {counts['train']}, "
        f"eval {counts['eval']} → {outcome.training_set.paths['train'].parent}",
        err=True,
    )
    if gate and outcome.model_id:
        from signalops_assets.llm.gateway import LLMGateway

        result = gate_candidate(engine, LLMGateway(), project_id, outcome.model_id)
        click.echo(result.describe(), err=True)
    click.echo(outcome.model_id)


@finetune.command("list")
@click.option("--project", "project_id", default=None)
def list_(project_id: str | None) -> None:
    """Fine-tune jobs and what they produced."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.fine_tuning.service import list_jobs
    from signalops_assets.reporting import text_table

    with session_scope(common.engine()) as session:
        rows = [
            [j.id, j.project_id, j.model_type, j.backend, j.status, j.training_set_id, j.model_id]
            for j in list_jobs(session, project_id)
        ]
    if not rows:
        click.echo("no fine-tune jobs")
        return
    headers = ["id", "project", "type", "backend", "status", "training set", "model"]
    click.echo(text_table(headers, rows))


@finetune.command()
@click.argument("job_id", type=int)
def status(job_id: int) -> None:
    """One job's status (and its error, if it failed)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.fine_tuning.service import require_job

    with session_scope(common.engine()) as session:
        job = require_job(session, job_id)
        line = f"job {job.id}: {job.status} ({job.backend}, training set {job.training_set_id})"
        if job.model_id:
            line += f" → {job.model_id}"
        if job.error:
            line += f": {job.error.splitlines()[0][:300]}"
    click.echo(line)


@finetune.command()
@click.argument("job_id", type=int)
def cancel(job_id: int) -> None:
    """Cancel a queued or running remote job."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.fine_tuning.service import require_job

    with session_scope(common.engine()) as session:
        job = require_job(session, job_id)
        if job.status not in ("queued", "running") or job.backend == "local":
            raise SignalOpsError(f"cannot cancel job {job_id}: it is {job.status} ({job.backend})")
