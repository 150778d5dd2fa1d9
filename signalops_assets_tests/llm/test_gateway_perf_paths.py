"""The gateway's fast paths: cost without a second price lookup."""

from __future__ import annotations

from typing import Any

from signalops_assets.llm.gateway import LLMGateway, LLMRequest
from signalops_assets.llm.litellm_setup import token_prices
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

MSG = [{"role": "user", "content": "<post>\nneed distributed tracing\n</post>"}]


def request(model: str, i: int = 0, **kw: Any) -> LLMRequest:
    return LLMRequest(
        model=model, messages=[{"role": "user", "content": f"<post>{i}</post>"}], **kw
    )


def test_cost_known_unknown_and_cached_price_lookup(fake_llm: FakeOpenAIServer) -> None:
    gw = LLMGateway(api_base=fake_llm.base_url, api_key="sk-test")
    known = gw.complete(LLMRequest(model="openai/gpt-4o-mini", messages=MSG))
    assert known.cost_usd is not None and known.cost_usd > 0
    assert gw.complete(LLMRequest(model="openai/house-model-7", messages=MSG)).cost_usd is None
    # The fallback price table: one LiteLLM lookup per model, misses included.
    token_prices.cache_clear()
    assert token_prices("openai/house-model-7") is None
    assert token_prices("openai/house-model-7") is None
    prices = token_prices("openai/gpt-4o-mini")
    assert prices is not None and prices[0] > 0 and prices[1] > 0
    assert token_prices.cache_info().hits == 1 and token_prices.cache_info().misses == 2
