"""Self-test of the fake's `/v1/files` and `/v1/fine_tuning/jobs`, through the real LiteLLM SDK:
the state machine, injected failure, cancel, events, and serving the trained `ft:` model."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
import openai

from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

TRAIN = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n'
)


def _kw(server: FakeOpenAIServer) -> dict[str, Any]:
    return {"custom_llm_provider": "openai", "api_base": server.base_url, "api_key": "sk-fake"}


def _run(coro: Any) -> Any:
    from signalops_assets.llm.loop import run_async  # closes LiteLLM's clients of the loop

    return run_async(coro)


def _upload(server: FakeOpenAIServer, purpose: str = "fine-tune") -> str:
    uploaded = _run(
        litellm.acreate_file(file=("train.jsonl", TRAIN), purpose=purpose, **_kw(server))
    )
    return str(uploaded.id)


def test_files_upload_retrieve_content_delete(fake_llm: FakeOpenAIServer) -> None:
    file_id = _upload(fake_llm)
    stored = fake_llm.files.get(file_id)
    assert stored is not None and stored.purpose == "fine-tune" and stored.data == TRAIN
    info = _run(litellm.afile_retrieve(file_id=file_id, **_kw(fake_llm)))
    assert info.id == file_id and info.bytes == len(TRAIN) and info.filename == "train.jsonl"
    content = litellm.file_content(file_id=file_id, **_kw(fake_llm))  # as BatchClient does
    assert content.content == TRAIN
    _run(litellm.afile_delete(file_id=file_id, **_kw(fake_llm)))
    assert fake_llm.files.get(file_id) is None
    with pytest.raises(openai.NotFoundError, match="No such File"):  # LiteLLM passes it as is
        _run(litellm.afile_retrieve(file_id=file_id, **_kw(fake_llm)))


def _create(server: FakeOpenAIServer, **extra: Any) -> Any:
    file_id = _upload(server)
    return _run(
        litellm.acreate_fine_tuning_job(
            model="gpt-4.1-mini-2025-04-14",
            training_file=file_id,
            validation_file=file_id,
            hyperparameters={"n_epochs": 2},
            suffix="spectra",
            **_kw(server),
            **extra,
        )
    )


def _retrieve(server: FakeOpenAIServer, job_id: str) -> Any:
    return _run(litellm.aretrieve_fine_tuning_job(fine_tuning_job_id=job_id, **_kw(server)))


def test_job_state_machine_to_a_served_model(fake_llm: FakeOpenAIServer) -> None:
    job = _create(fake_llm)
    assert job.status == "validating_files"
    seen = [_retrieve(fake_llm, job.id).status for _ in range(4)]
    assert seen == ["queued", "running", "succeeded", "succeeded"]
    done = _retrieve(fake_llm, job.id)
    assert done.fine_tuned_model.startswith("ft:gpt-4.1-mini-2025-04-14:fake-org:spectra:")
    (recorded,) = fake_llm.fine_tuning.jobs()
    assert recorded.request["hyperparameters"] == {"n_epochs": 2}
    assert recorded.validation_file == recorded.training_file

    reply = litellm.completion(
        model=f"openai/{done.fine_tuned_model}",
        messages=[{"role": "user", "content": "tracing <<label:relevant>>"}],
        api_base=fake_llm.base_url,
        api_key="sk-fake",
    )
    assert json.loads(reply.choices[0].message.content)["label"] == "relevant"
    with pytest.raises(litellm.exceptions.NotFoundError):  # never trained: not served
        litellm.completion(
            model="openai/ft:gpt-4.1-mini:fake-org::nope",
            messages=[{"role": "user", "content": "x"}],
            api_base=fake_llm.base_url,
            api_key="sk-fake",
            num_retries=0,
        )
    listed = _run(litellm.alist_fine_tuning_jobs(**_kw(fake_llm)))
    assert [j.id for j in listed.data] == [job.id]


def test_injected_failure_carries_its_error(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.fine_tuning.fail_next("Training file has 3 invalid examples", "invalid_training_file")
    job = _create(fake_llm)
    statuses = [_retrieve(fake_llm, job.id) for _ in range(3)]
    failed = statuses[-1]
    assert failed.status == "failed" and failed.fine_tuned_model is None
    assert failed.error.code == "invalid_training_file"
    assert "3 invalid examples" in failed.error.message
    events = fake_llm.fine_tuning.jobs()[0].events
    assert events[-1]["level"] == "error" and "invalid examples" in events[-1]["message"]


def test_cancel_then_cancel_again_is_refused(fake_llm: FakeOpenAIServer) -> None:
    job = _create(fake_llm)
    cancelled = _run(litellm.acancel_fine_tuning_job(fine_tuning_job_id=job.id, **_kw(fake_llm)))
    assert cancelled.status == "cancelled"
    assert _retrieve(fake_llm, job.id).status == "cancelled"  # no longer advances
    with pytest.raises(openai.BadRequestError):
        _run(litellm.acancel_fine_tuning_job(fine_tuning_job_id=job.id, **_kw(fake_llm)))


def test_a_job_needs_fine_tune_files(fake_llm: FakeOpenAIServer) -> None:
    batch_file = _upload(fake_llm, purpose="batch")
    with pytest.raises(openai.BadRequestError, match="not 'fine-tune'"):
        _run(
            litellm.acreate_fine_tuning_job(
                model="gpt-4.1-mini", training_file=batch_file, **_kw(fake_llm)
            )
        )
    assert fake_llm.fine_tuning.jobs() == []
