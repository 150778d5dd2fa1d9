"""Pick the judge for a project: fine-tuned, A/B experiment, or prompted."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import ABExperiment, Project
from signalops_assets.judging.few_shot import few_shot_examples
from signalops_assets.judging.judges import LLMPromptJudge, RelevanceJudge
from signalops_assets.judging.prompts import FewShot
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.model_ids import is_fine_tuned
from signalops_assets.vocab import ExperimentStatus


def project_judge_model(session: Session, project: ProjectConfig) -> str:
    """The configured judge, unless a promoted experiment recorded a durable override."""
    row = session.get(Project, project.project_id)
    if row is not None and row.judge_model_override:
        return row.judge_model_override
    return project.llm.judge_model


def single_model_judge(
    gateway: LLMGateway, project: ProjectConfig, model: str, examples: Sequence[FewShot] = ()
) -> LLMPromptJudge:
    """A fine-tuned model sees its training format only; a prompted one gets the examples."""
    if is_fine_tuned(model):
        from signalops_assets.judging.finetuned import fine_tuned_judge

        return fine_tuned_judge(gateway, project, model)
    return LLMPromptJudge(gateway, project, model, examples=examples)


def current_experiment(session: Session, project_id: str) -> ABExperiment | None:
    """The project's active experiment, else its most recently started paused one."""
    return session.scalar(
        select(ABExperiment)
        .where(
            ABExperiment.project_id == project_id,
            ABExperiment.status.in_((ExperimentStatus.ACTIVE, ExperimentStatus.PAUSED)),
        )
        # "active" sorts before "paused": an active experiment always wins.
        .order_by(ABExperiment.status, ABExperiment.started_at.desc())
        .limit(1)
    )


def create_judge(session: Session, gateway: LLMGateway, project: ProjectConfig) -> RelevanceJudge:
    """An active experiment (experiments enabled) → ABTestJudge; a paused one → its primary
    alone, unattributed; a `ft:` model → fine_tuned_judge; else LLMPromptJudge."""
    examples = few_shot_examples(session, project.project_id, project.llm.few_shot)
    if project.experiments.enabled:
        experiment = current_experiment(session, project.project_id)
        if experiment is not None and experiment.status == "paused":
            return single_model_judge(gateway, project, experiment.primary_model, examples)
        if experiment is not None:
            from signalops_assets.judging.ab import ABTestJudge

            return ABTestJudge(
                experiment_id=experiment.experiment_id,
                canary_pct=experiment.canary_pct,
                mode=experiment.mode,
                primary=single_model_judge(gateway, project, experiment.primary_model, examples),
                canary=single_model_judge(gateway, project, experiment.canary_model, examples),
            )
    model = project_judge_model(session, project)
    return single_model_judge(gateway, project, model, examples)
