"""What LiteLLM sends for a DPO fine-tune: the fake's log of the job body it received.

LiteLLM 1.110 drops `method` whether it is passed as a keyword or inside `extra_body`, for
openai and azure (azure adds only its `trainingType`, 1 = supervised). This is why drafter
DPO jobs are not built; if a LiteLLM upgrade starts forwarding `method`, this test fails and
the drafter backend can be added (README, "The fine-tune loop")."""

from __future__ import annotations

from typing import Any

import pytest

from signalops_assets.llm.litellm_setup import get_litellm
from signalops_assets.llm.loop import run_async
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

DPO = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}}
EXAMPLE = b'{"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []}\n'


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_litellm_drops_the_dpo_method(fake_llm: FakeOpenAIServer, provider: str) -> None:
    litellm = get_litellm()
    kwargs: dict[str, Any] = {
        "custom_llm_provider": provider,
        "api_base": fake_llm.base_url if provider == "openai" else fake_llm.url,
        "api_key": "sk-fake-dpo",
    }
    if provider == "azure":
        kwargs["api_version"] = "2024-10-21"

    async def submit() -> Any:
        uploaded = await litellm.acreate_file(
            file=("dpo.jsonl", EXAMPLE), purpose="fine-tune", **kwargs
        )
        return await litellm.acreate_fine_tuning_job(
            model="gpt-4.1-mini-2025-04-14",
            training_file=uploaded.id,
            hyperparameters={"n_epochs": 1},
            extra_body={"method": DPO},
            method=DPO,
            **kwargs,
        )

    job = run_async(submit())
    (received,) = fake_llm.fine_tuning.jobs()
    assert received.id == job.id
    assert "method" not in received.request
    assert received.request["hyperparameters"] == {"n_epochs": 1}
    assert received.request.get("trainingType") == (1 if provider == "azure" else None)
