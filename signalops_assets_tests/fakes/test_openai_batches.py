"""The fake's /v1/files and /v1/batches, reached through the real LiteLLM SDK: its synchronous
file and batch calls, the ones BatchClient makes (llm/batch_client.py says why)."""

from __future__ import annotations

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


def start(fake: FakeOpenAIServer, data: bytes) -> Any:
    litellm = get_litellm()
    created = litellm.create_file(file=("in.jsonl", data), purpose="batch", **kwargs(fake))
    return litellm.create_batch(
        completion_window="24h",
        endpoint="/v1/chat/completions",
        input_file_id=created.id,
        metadata={"k": "v"},
        **kwargs(fake),
    )


def retrieve(fake: FakeOpenAIServer, batch_id: str) -> Any:
    return get_litellm().retrieve_batch(batch_id=batch_id, **kwargs(fake))


def content(fake: FakeOpenAIServer, file_id: str) -> list[dict[str, Any]]:
    raw = get_litellm().file_content(file_id=file_id, **kwargs(fake))
    return [json.loads(line) for line in raw.content.splitlines()]


def test_files_are_generic(fake_llm: FakeOpenAIServer) -> None:
    litellm = get_litellm()
    made = litellm.create_file(
        file=("train.jsonl", b'{"messages": []}\n'), purpose="fine-tune", **kwargs(fake_llm)
    )
    got = litellm.file_retrieve(file_id=made.id, **kwargs(fake_llm))
    raw = litellm.file_content(file_id=made.id, **kwargs(fake_llm)).content
    assert got.purpose == "fine-tune" and got.filename == "train.jsonl" and got.bytes == len(raw)
    assert raw == b'{"messages": []}\n'
    assert [f.purpose for f in fake_llm.files.list()] == ["fine-tune"]


def test_state_machine_output_and_cached_tokens(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.batches.plan(auto=False, item_errors={"c2": 500})
    long_system = "word " * 1100  # ≥ 1,024 tokens: the shared prefix is cached after once

    batch = start(fake_llm, lines(4, system=long_system))
    seen = [batch.status]
    for _ in range(3):
        seen.append(retrieve(fake_llm, batch.id).status)
        fake_llm.batches.advance(batch.id)
    assert seen == ["validating", "validating", "in_progress", "completed"]
    (batch,) = fake_llm.batches.list()
    assert batch["request_counts"] == {"total": 4, "completed": 3, "failed": 1}
    output = content(fake_llm, batch["output_file_id"])
    errors = content(fake_llm, batch["error_file_id"])
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
    batch = start(fake_llm, lines(3))
    for _ in range(2):
        batch = retrieve(fake_llm, batch.id)
    assert batch.status == status and len(fake_llm.batches.executed) == done
    if status == "expired":
        errors = content(fake_llm, batch.error_file_id)
        assert [e["error"]["code"] for e in errors] == ["batch_expired", "batch_expired"]
    else:
        assert batch.errors.data[0].code == "batch_failed" and batch.output_file_id is None


def test_invalid_input_fails_validation_and_cancel(fake_llm: FakeOpenAIServer) -> None:
    mixed = retrieve(fake_llm, start(fake_llm, lines(2, model="gpt-4.1-mini")).id)
    other = start(fake_llm, lines(2))
    cancelling = get_litellm().cancel_batch(batch_id=other.id, **kwargs(fake_llm))
    cancelled = retrieve(fake_llm, other.id)
    assert mixed.status == "failed" and mixed.errors.data[0].code == "mixed_models"
    assert cancelling.status == "cancelling" and cancelled.status == "cancelled"
    assert fake_llm.batches.executed == []
