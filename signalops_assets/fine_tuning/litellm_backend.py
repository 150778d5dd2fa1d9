"""The remote fine-tune backend: LiteLLM's files and fine-tuning API (openai | azure | vertex_ai).

Submitting uploads the training set's train file and its held-out eval split (the validation
file) with `acreate_file(purpose="fine-tune")`, then `acreate_fine_tuning_job` with the
configured hyperparameters; polling is `aretrieve_fine_tuning_job`, cancelling
`acancel_fine_tuning_job`. Provider keys are LiteLLM's usual environment variables
(OPENAI_API_KEY, AZURE_API_KEY + AZURE_API_BASE + AZURE_API_VERSION, VERTEXAI_PROJECT ...);
never passed through here, so they cannot reach a log or the database.

DPO: LiteLLM 1.110 builds the job body from model, training_file, hyperparameters, suffix,
validation_file, integrations and seed only; `method` (as a keyword or inside `extra_body`) is
dropped for openai and azure (verified against the fake server's request log in
signalops_assets_tests/fine_tuning/test_litellm_dpo_method.py), so drafter DPO jobs cannot be
submitted through it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signalops_assets.errors import SignalOpsError
from signalops_assets.redaction import exception_line

PROVIDERS = ("openai", "azure", "vertex_ai")
# Provider states → fine_tune_jobs.status (the provider's own stays in metadata).
STATUS = {
    "validating_files": "queued",
    "queued": "queued",
    "pending": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}
PENDING = ("queued", "running")


@dataclass(frozen=True)
class Submitted:
    external_job_id: str
    provider_status: str
    training_file_id: str
    validation_file_id: str


@dataclass(frozen=True)
class RemoteStatus:
    status: str  # one of STATUS's values
    provider_status: str
    fine_tuned_model: str | None
    error: str | None
    trained_tokens: int | None


def _kwargs(provider: str, api_base: str | None) -> dict[str, Any]:
    if provider not in PROVIDERS:
        raise SignalOpsError(f"unknown fine-tune provider '{provider}' (one of {PROVIDERS})")
    kwargs: dict[str, Any] = {"custom_llm_provider": provider}
    if api_base:
        kwargs["api_base"] = api_base
    return kwargs


async def _upload(litellm: Any, path: Path, kwargs: dict[str, Any]) -> str:
    uploaded = await litellm.acreate_file(
        file=(path.name, path.read_bytes()), purpose="fine-tune", **kwargs
    )
    return str(uploaded.id)


async def submit(
    train: Path,
    validation: Path,
    *,
    provider: str,
    base_model: str,
    hyperparameters: dict[str, Any],
    suffix: str,
    api_base: str | None = None,
) -> Submitted:
    """Upload both files and create the job; any provider error is one SignalOpsError line."""
    from signalops_assets.llm.litellm_setup import get_litellm

    litellm, kwargs = get_litellm(), _kwargs(provider, api_base)
    try:
        train_id, validation_id = await asyncio.gather(
            _upload(litellm, train, kwargs), _upload(litellm, validation, kwargs)
        )
        job = await litellm.acreate_fine_tuning_job(
            model=base_model,
            training_file=train_id,
            validation_file=validation_id,
            hyperparameters=dict(hyperparameters),
            suffix=suffix[:18],  # OpenAI's limit on the suffix
            **kwargs,
        )
    except Exception as exc:
        failure = f"{provider} fine-tune submission failed"
        raise SignalOpsError(f"{failure}: {exception_line(exc)}") from None
    return Submitted(str(job.id), str(job.status), train_id, validation_id)


def _error(job: Any) -> str | None:
    error = getattr(job, "error", None)
    if not error:
        return None
    code = getattr(error, "code", None) or (error.get("code") if isinstance(error, dict) else "")
    message = getattr(error, "message", None) or (
        error.get("message") if isinstance(error, dict) else str(error)
    )
    if not code and not message:
        return None
    return f"{code}: {message}" if code else str(message)


def _status(job: Any) -> RemoteStatus:
    provider_status = str(job.status)
    status = STATUS.get(provider_status)
    if status is None:
        raise SignalOpsError(f"fine-tune job {job.id}: unknown provider status {provider_status!r}")
    tokens = getattr(job, "trained_tokens", None)
    return RemoteStatus(
        status=status,
        provider_status=provider_status,
        fine_tuned_model=getattr(job, "fine_tuned_model", None) or None,
        error=_error(job),
        trained_tokens=int(tokens) if tokens is not None else None,
    )


async def _job_call(
    call: str, external_job_id: str, failure: str, *, provider: str, api_base: str | None
) -> RemoteStatus:
    """One LiteLLM fine-tuning job call (`aretrieve_fine_tuning_job`, `acancel_…`); a provider
    error becomes one scrubbed line prefixed by `failure`."""
    from signalops_assets.llm.litellm_setup import get_litellm

    try:
        job = await getattr(get_litellm(), call)(
            fine_tuning_job_id=external_job_id, **_kwargs(provider, api_base)
        )
    except Exception as exc:
        raise SignalOpsError(f"{failure}: {exception_line(exc)}") from None
    return _status(job)


async def retrieve(external_job_id: str, *, provider: str, api_base: str | None) -> RemoteStatus:
    failure = f"{provider} job {external_job_id}"
    return await _job_call(
        "aretrieve_fine_tuning_job", external_job_id, failure, provider=provider, api_base=api_base
    )


async def cancel(external_job_id: str, *, provider: str, api_base: str | None) -> RemoteStatus:
    failure = f"cancel {external_job_id} failed"
    return await _job_call(
        "acancel_fine_tuning_job", external_job_id, failure, provider=provider, api_base=api_base
    )
