"""The latency budget measures the provider, not our start-up: a fresh process whose first
act is a batch of fine-tuned judgments with a 1.5 s budget, against a provider that answers at
once, fails none of them (LiteLLM's import, seconds, used to be charged to the first calls in
flight). Concurrency 4, not 16: on a loaded 2-core machine 16 LiteLLM calls at once spend more
than 1.5 s of CPU between them, which is a real cost the budget rightly counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from datetime import UTC, datetime
from signalops_assets.config import load_project
from signalops_assets.db.migrate import ensure_schema
from signalops_assets.db.models import Post
from signalops_assets.db.session import cached_engine, session_scope
from signalops_assets.judging.finetuned import fine_tuned_judge
from signalops_assets.judging.service import judge_pending
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.posts import ensure_project

assert "litellm" not in sys.modules  # cold: nothing has imported it yet
engine = cached_engine(sys.argv[2])
ensure_schema(engine)
cfg = load_project("spectra")
cfg = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={"max_judge_latency_ms": 1500})})
with session_scope(engine) as session:
    ensure_project(session, cfg)
    session.add_all(
        Post(project_id="spectra", platform_id=f"c:{i}", text=f"post {i}",
             created_at=datetime.now(UTC))
        for i in range(40)
    )
gateway = LLMGateway(api_base=sys.argv[1], api_key="sk-test-only", num_retries=0)
judge = fine_tuned_judge(gateway, cfg, "ft:gpt-4o-mini:org::cold")
summary = judge_pending(engine, "spectra", judge, max_concurrency=4)
print(summary.posts_judged, summary.failures)
"""


@pytest.mark.slow
def test_deadline_with_a_cold_import(fake_llm: FakeOpenAIServer, isolated_env: Path) -> None:
    db = f"sqlite:///{isolated_env / 'cold.db'}"
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error:coroutine:RuntimeWarning",
            "-c",
            SCRIPT,
            fake_llm.base_url,
            db,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["40", "0"], result.stdout
    assert "never awaited" not in result.stderr
    assert fake_llm.call_count() == 40
