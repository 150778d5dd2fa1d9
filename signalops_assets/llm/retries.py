"""What the gateway's one retry loop decides with: which errors are worth another attempt,
how long the provider asks us to wait, what timeout an attempt gets, and the one-line error a
failure is stored as."""

from __future__ import annotations

import math

RETRYABLE = (
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "Timeout",
    "APIConnectionError",
    "BadGatewayError",
)


def is_retryable(exc: BaseException) -> bool:
    return any(base.__name__ in RETRYABLE for base in type(exc).__mro__)


def retry_after(exc: BaseException) -> float | None:
    """The provider's Retry-After (seconds), from the error's response headers, if any."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        if headers.get("retry-after"):
            return max(0.0, float(headers["retry-after"]))
    except (TypeError, ValueError):  # an HTTP date or junk: fall back to our backoff
        return None
    return None


def attempt_timeout(per_attempt: float, budget: float, left: float, attempts: int) -> float:
    """The timeout LiteLLM gets for one attempt. LiteLLM keeps one HTTP client per distinct
    timeout value, so the first attempt gets a constant (min of per-attempt and budget) and later
    ones the time left rounded down to a coarse step: a few clients, not one per call."""
    if attempts == 0:
        return min(per_attempt, budget)
    if left >= per_attempt:
        return per_attempt
    step = 0.5 if left >= 1.0 else 0.1
    return max(0.1, math.floor(left / step) * step)
