"""One place for how a model id the registry and the config use maps to LiteLLM's.

OpenAI fine-tunes are registered as `ft:<base>:<org>::<id>` but must be called as
`openai/ft:...` for LiteLLM to route newer bases; their answers may be stored under either.
"""

from __future__ import annotations


def is_fine_tuned(model: str) -> bool:
    """An OpenAI-style fine-tune id, with or without LiteLLM's `openai/` prefix."""
    return model.removeprefix("openai/").startswith("ft:")


def litellm_model(model: str) -> str:
    """The id LiteLLM is called with."""
    return f"openai/{model}" if model.startswith("ft:") else model


def model_aliases(model: str) -> tuple[str, ...]:
    """The ids one model's answers are stored under (called with the `openai/` prefix LiteLLM
    needs, registered without it)."""
    bare = model.removeprefix("openai/")
    return tuple(dict.fromkeys((model, bare, f"openai/{bare}")))
