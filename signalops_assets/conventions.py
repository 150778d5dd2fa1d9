"""House conventions for every asset: owners, tags, the retry policy of LLM-calling steps."""

from collections.abc import Callable
from typing import Any, cast

from dagster import AssetsDefinition, Backoff, Failure, Jitter, RetryPolicy, asset

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


def fail_for_broken_projects(failure: str | None, metadata: dict[str, Any]) -> None:
    """The good projects' work is already committed; the step still fails, at the end, naming
    every project whose config did not load (so a broken file is seen, not skipped quietly)."""
    if failure is not None:
        # No retry: a broken file stays broken until someone fixes it.
        raise Failure(
            description=failure,
            metadata={**metadata, "broken_projects": failure},
            allow_retries=False,
        )
