"""The fake's /v1/files and /v1/batches, reached through the real LiteLLM SDK."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from signalops_assets.llm.litellm_setup import get_litellm
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer


def kwargs(fake: FakeOpenAIServer) -> dict[str, Any]:
    return {"custom_llm_provider": "openai", "api_base": fake.base_url, "api_key": "sk-test-only"}


def lines(n: int, model: str = "gpt-4o-mini", system: str = "judge posts") -> bytes:
    rows = [
        {
            "custom_id": f"c{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": model if i else "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": f"post number {i}"},
                ],
            },
        }
        for i in range(n)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


async def start(fake: FakeOpenAIServer, data: bytes) -> Any:
    litellm = get_litellm()
    created = await litellm.acreate_file(file=("in.jsonl", data), purpose="batch", **kwargs(fake))
    return await litellm.acreate_batch(
        completion_window="24h",
        endpoint="/v1/chat/completions",
        input_file_id=created.id,
        metadata={"k": "v"},
        **kwargs(fake),
    )


async def content(fake: FakeOpenAIServer, file_id: str) -> list[dict[str, Any]]:
    # The sync call, as BatchClient.content makes it (llm/batch_client.py says why).
    raw = await asyncio.to_thread(get_litellm().file_content, file_id=file_id, **kwargs(fake))
    return [json.loads(line) for line in raw.content.splitlines()]


def test_files_are_generic(fake_llm: FakeOpenAIServer) -> None:
    async def go() -> tuple[Any, bytes]:
        litellm = get_litellm()
        made = await litellm.acreate_file(
            file=("train.jsonl", b'{"messages": []}\n'), purpose="fine-tune", **kwargs(fake_llm)
        )
        got = await litellm.afile_retrieve(file_id=made.id, **kwargs(fake_llm))
        raw = await asyncio.to_thread(litellm.file_content, file_id=made.id, **kwargs(fake_llm))
        return got, raw.content

    got, raw = asyncio.run(go())
    assert got.purpose == "fine-tune" and got.filename == "train.jsonl" and got.bytes == len(raw)
    assert raw == b'{"messages": []}\n'
    assert [f.purpose for f in fake_llm.files.list()] == ["fine-tune"]


def test_state_machine_output_and_cached_tokens(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.batches.plan(auto=False, item_errors={"c2": 500})
    long_system = "word " * 1100  # ≥ 1,024 tokens: the shared prefix is cached after once

    async def go() -> list[str]:
        batch = await start(fake_llm, lines(4, system=long_system))
        seen = [batch.status]
        for _ in range(3):
            retrieved = await get_litellm().aretrieve_batch(batch_id=batch.id, **kwargs(fake_llm))
            seen.append(retrieved.status)
            fake_llm.batches.advance(batch.id)
        return seen

    assert asyncio.run(go()) == ["validating", "validating", "in_progress", "completed"]
    (batch,) = fake_llm.batches.list()
    assert batch["request_counts"] == {"total": 4, "completed": 3, "failed": 1}
    output = asyncio.run(content(fake_llm, batch["output_file_id"]))
    errors = asyncio.run(content(fake_llm, batch["error_file_id"]))
    assert [o["custom_id"] for o in output] == ["c0", "c1", "c3"]
    assert [(e["custom_id"], e["response"]["status_code"]) for e in errors] == [("c2", 500)]
    usage = [o["response"]["body"]["usage"] for o in output]
    cached = [u["prompt_tokens_details"]["cached_tokens"] for u in usage]
    assert cached == [0, 1024, 1024]  # 1,100-word prefix, in 128-token steps after the first
    body = json.loads(output[0]["response"]["body"]["choices"][0]["message"]["content"])
    assert body == fake_llm.judgment_for("gpt-4o-mini", "post number 0")


@pytest.mark.parametrize(
    ("plan", "status", "done"),
    [({"outcome": "expired", "processed": 1}, "expired", 1), ({"outcome": "failed"}, "failed", 0)],
)
def test_expired_and_failed(
    fake_llm: FakeOpenAIServer, plan: dict[str, Any], status: str, done: int
) -> None:
    fake_llm.batches.plan(**plan)

    async def go() -> Any:
        batch = await start(fake_llm, lines(3))
        for _ in range(2):
            batch = await get_litellm().aretrieve_batch(batch_id=batch.id, **kwargs(fake_llm))
        return batch

    batch = asyncio.run(go())
    assert batch.status == status and len(fake_llm.batches.executed) == done
    if status == "expired":
        errors = asyncio.run(content(fake_llm, batch.error_file_id))
        assert [e["error"]["code"] for e in errors] == ["batch_expired", "batch_expired"]
    else:
        assert batch.errors.data[0].code == "batch_failed" and batch.output_file_id is None


def test_invalid_input_fails_validation_and_cancel(fake_llm: FakeOpenAIServer) -> None:
    async def go() -> tuple[Any, Any, Any]:
        litellm = get_litellm()
        mixed = await start(fake_llm, lines(2, model="gpt-4.1-mini"))
        mixed = await litellm.aretrieve_batch(batch_id=mixed.id, **kwargs(fake_llm))
        other = await start(fake_llm, lines(2))
        cancelling = await litellm.acancel_batch(batch_id=other.id, **kwargs(fake_llm))
        cancelled = await litellm.aretrieve_batch(batch_id=other.id, **kwargs(fake_llm))
        return mixed, cancelling, cancelled

    mixed, cancelling, cancelled = asyncio.run(go())
    assert mixed.status == "failed" and mixed.errors.data[0].code == "mixed_models"
    assert cancelling.status == "cancelling" and cancelled.status == "cancelled"
    assert fake_llm.batches.executed == []
