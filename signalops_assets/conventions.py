"""House conventions for every asset: owners, tags, the retry policy of LLM-calling steps."""

from collections.abc import Callable
from typing import Any, cast

from dagster import AssetsDefinition, Backoff, Jitter, RetryPolicy, asset

OWNERS = ["team:signalops"]


def tags(domain: str) -> dict[str, str]:
    return {"domain": domain}


# A provider outage or rate limit usually clears within a minute: three tries, 15 s then 30 s
# (± jitter, so parallel steps do not retry in lockstep). LiteLLM already retries each call.
LLM_RETRY = RetryPolicy(
    max_retries=2, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


def llm_asset(domain: str, **extra: Any) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """`@asset` with what every provider-calling asset shares: the `llm` concurrency pool (one
    limit across runs and workers), owners, domain tag and group, and the retry policy."""
    options: dict[str, Any] = {
        "group_name": domain,
        "pool": "llm",
        "kinds": {"litellm", "sql"},
        "owners": OWNERS,
        "tags": tags(domain),
        "retry_policy": LLM_RETRY,
    }
    decorator = asset(**{**options, **extra})
    return cast(Callable[[Callable[..., Any]], AssetsDefinition], decorator)
