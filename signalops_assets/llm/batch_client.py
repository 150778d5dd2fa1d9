"""LiteLLM's file and batch API for one provider: upload, create, retrieve, content, cancel.

Keys are read by LiteLLM from the provider's usual environment variables, as for completions;
`api_base` is the project's (or the deployment's), so a proxy or a test fake serves batches too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from signalops_assets.llm.loop import litellm_in_thread


def batch_cost_usd(model: str, provider: str, usage: dict[str, Any]) -> float | None:
    """What one batch request cost at the provider's batch prices in LiteLLM's price map
    (`*_batches` keys; cached prompt tokens at the cache-read price), or None when LiteLLM
    has no price for the model (never a made-up 0)."""
    from litellm.cost_calculator import batch_cost_calculator
    from litellm.types.utils import Usage

    from signalops_assets.llm.litellm_setup import token_prices

    if token_prices(model) is None:
        return None
    try:
        priced = Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            total_tokens=int(usage.get("total_tokens") or 0),
            prompt_tokens_details=usage.get("prompt_tokens_details"),
        )
        prompt, completion = batch_cost_calculator(
            usage=priced, model=model, custom_llm_provider=provider
        )
    except (TypeError, ValueError):  # a usage block of the wrong shape: cost unknown
        return None
    return float(prompt + completion)


@dataclass(frozen=True)
class BatchClient:
    provider: str
    api_base: str | None = None

    def _kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"custom_llm_provider": self.provider}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        return kwargs

    async def upload(self, file: IO[bytes]) -> str:
        created = await litellm_in_thread(
            "create_file", file=("signalops-batch.jsonl", file), purpose="batch", **self._kwargs()
        )
        return str(created.id)

    async def create(self, input_file_id: str, metadata: dict[str, str]) -> Any:
        return await litellm_in_thread(
            "create_batch",
            completion_window="24h",
            endpoint="/v1/chat/completions",
            input_file_id=input_file_id,
            metadata=metadata,
            **self._kwargs(),
        )

    async def retrieve(self, batch_id: str) -> Any:
        return await litellm_in_thread("retrieve_batch", batch_id=batch_id, **self._kwargs())

    async def content(self, file_id: str) -> bytes:
        response = await litellm_in_thread("file_content", file_id=file_id, **self._kwargs())
        return bytes(response.content)

    async def cancel(self, batch_id: str) -> Any:
        return await litellm_in_thread("cancel_batch", batch_id=batch_id, **self._kwargs())

    async def find(self, metadata_key: str, value: str) -> Any | None:
        """The provider's batch whose metadata carries `metadata_key: value` (recent 100)."""
        page = await litellm_in_thread("list_batches", limit=100, **self._kwargs())
        for batch in getattr(page, "data", None) or []:
            if (getattr(batch, "metadata", None) or {}).get(metadata_key) == value:
                return batch
        return None
