"""House conventions for every asset: owners, tags, the retry policy of LLM-calling steps."""

from dagster import Backoff, Jitter, RetryPolicy

OWNERS = ["team:signalops"]


def tags(domain: str) -> dict[str, str]:
    return {"domain": domain}


# A provider outage or rate limit usually clears within a minute: three tries, 15 s then 30 s
# (± jitter, so parallel steps do not retry in lockstep). LiteLLM already retries each call.
LLM_RETRY = RetryPolicy(
    max_retries=2, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
