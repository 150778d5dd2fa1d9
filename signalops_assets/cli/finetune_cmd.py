from __future__ import annotations

from typing import TYPE_CHECKING

import click

from signalops_assets.cli import common
from signalops_assets.vocab import ModelType, values

if TYPE_CHECKING:
    from signalops_assets.fine_tuning.remote import ApiBase


@click.group()
def finetune() -> None:
    """Fine-tune a judge from human labels: training set, training, registry, offline gate."""


def _api_base() -> ApiBase:
    from signalops_assets.fine_tuning.remote import api_base_from
    from signalops_assets.llm.settings import environment_defaults

    return api_base_from(environment_defaults())  # SIGNALOPS_LLM_API_BASE or llm.api_base


@finetune.command()
@click.option("--project", "project_id", required=True)
@click.option(
    "--type", "model_type", type=click.Choice(values(ModelType)), default=ModelType.JUDGE.value
)
@click.option(
    "--backend",
    type=click.Choice(["local", "litellm"]),
    default=None,
    help="Default: the project's fine_tuning.backend",
)
@click.option(
    "--provider",
    type=click.Choice(["openai", "azure", "vertex_ai"]),
    default=None,
    help="litellm backend: the provider (default: fine_tuning.provider)",
)
@click.option(
    "--base-model", default=None, help="litellm backend (default: fine_tuning.base_model)"
)
@click.option("--name", default=None, help="Model name (default: <project>-judge)")
@click.option("--gate/--no-gate", default=True, help="Run the offline gate on held-out labels")
def create(
    project_id: str,
    model_type: str,
    backend: str | None,
    provider: str | None,
    base_model: str | None,
    name: str | None,
    gate: bool,
) -> None:
    """Build a training set and train a candidate (local: prints the registered model id) or
    submit a provider job (litellm: prints the job id; the sensor or `status` finishes it)."""
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.fine_tuning.service import create_local_judge, gate_candidate

    cfg = common.project(project_id)
    backend = backend or cfg.fine_tuning.backend
    if model_type == ModelType.DRAFTER:
        raise SignalOpsError(
            "drafter (DPO) fine-tunes are not available: LiteLLM 1.110 drops the DPO `method` "
            "from fine-tuning jobs (see README, fine-tuning); the DPO training set is recorded by "
            "`signalops export training-data --type dpo`"
        )
    if backend != "litellm" and (provider or base_model):
        raise SignalOpsError("--provider and --base-model need --backend litellm")
    engine = common.engine()
    if backend == "litellm":
        from signalops_assets.fine_tuning.remote import submit_remote
        from signalops_assets.fine_tuning.training_sets import build_judge_training_set

        summary = build_judge_training_set(engine, project_id, project=cfg)
        job_id = submit_remote(
            engine,
            summary,
            cfg,
            api_base=_api_base()(project_id),
            provider=provider,
            base_model=base_model,
            name=name,
        )
        click.echo(
            f"training set {summary.training_set_id}: submitted fine-tune job {job_id}; "
            f"`signalops finetune status {job_id}` polls it",
            err=True,
        )
        click.echo(job_id)
        return
    outcome = create_local_judge(engine, project_id, name=name, project=cfg)
    counts = outcome.training_set.counts
    click.echo(
        f"training set {outcome.training_set.training_set_id}: train {counts['train']}, "
        f"eval {counts['eval']} → {outcome.training_set.paths['train'].parent}",
        err=True,
    )
    if gate and outcome.model_id:
        from signalops_assets.llm.settings import environment_defaults, resolve

        gateway = resolve(cfg.llm, environment_defaults()).gateway()
        result = gate_candidate(engine, gateway, project_id, outcome.model_id)
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
    """One job's status (and its error, if it failed); a pending remote job is polled first."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.fine_tuning.remote import poll_remote_jobs
    from signalops_assets.fine_tuning.service import require_job

    engine = common.engine()
    with session_scope(engine) as session:
        require_job(session, job_id)
    for outcome in poll_remote_jobs(engine, _api_base(), only_job=job_id):
        if outcome.status == "unknown":  # the provider did not answer: say so, show the last
            click.echo(f"warning: {outcome.detail}", err=True)
    with session_scope(engine) as session:
        job = require_job(session, job_id)
        line = f"job {job.id}: {job.status} ({job.backend}, training set {job.training_set_id})"
        if job.external_job_id:
            line += f" [{job.provider} {job.external_job_id}]"
        if job.model_id:
            line += f" → {job.model_id}"
        if job.error:
            line += f": {job.error.splitlines()[0][:300]}"
    click.echo(line)


@finetune.command()
@click.argument("job_id", type=int)
def cancel(job_id: int) -> None:
    """Cancel a queued or running remote job."""
    from signalops_assets.fine_tuning.remote import cancel_remote

    outcome = cancel_remote(common.engine(), job_id, _api_base())
    click.echo(f"job {job_id}: {outcome.status}")
