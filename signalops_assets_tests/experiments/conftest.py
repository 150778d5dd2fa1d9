"""Fixtures for experiment tests: a real gateway to the fake OpenAI server, and one-call helpers
to create experiments and run the judging pipeline the way judged_posts does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from signalops_assets.config import ProjectConfig
from signalops_assets.db.session import session_scope
from signalops_assets.judging.service import JudgeRunSummary
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

PRIMARY = "openai/primary-x"
CANARY = "openai/canary-y"


@pytest.fixture
def fake_gateway(fake_llm: FakeOpenAIServer) -> LLMGateway:
    """LiteLLM → the fake server; no retries, so tests stay fast."""
    return LLMGateway(api_base=fake_llm.base_url, api_key="sk-test-only", num_retries=0)


@pytest.fixture
def make_experiment(engine: Engine) -> Callable[..., str]:
    """create_experiment in its own transaction; returns the new experiment id."""
    from signalops_assets.experiments.service import create_experiment

    def make(
        project_id: str = "spectra",
        primary: str = PRIMARY,
        canary: str = CANARY,
        canary_pct: float = 0.2,
        **kwargs: Any,
    ) -> str:
        with session_scope(engine) as session:
            return create_experiment(
                session, project_id, primary, canary, canary_pct, **kwargs
            ).experiment_id

    return make


@pytest.fixture
def run_judging(engine: Engine, fake_gateway: LLMGateway) -> Callable[..., JudgeRunSummary]:
    """What judged_posts does for one project: create_judge, then judge_pending."""
    from signalops_assets.judging.factory import create_judge
    from signalops_assets.judging.service import judge_pending

    def run(project: ProjectConfig, **kwargs: Any) -> JudgeRunSummary:
        with session_scope(engine) as session:
            judge = create_judge(session, fake_gateway, project)
        return judge_pending(engine, project.project_id, judge, max_concurrency=32, **kwargs)

    return run
