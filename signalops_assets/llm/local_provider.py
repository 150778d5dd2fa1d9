"""Offline stand-in models, served as a LiteLLM custom provider (`local/...`).

They go through `litellm.completion` like any real model, so the sample project runs with no
API key and no network. `local/keyword-judge` scores the project's signals, which the judge
prompt lists; `local/template-drafter` fills a reply template from the persona and post.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from signalops_assets.vocab import Label

PROVIDER = "local"
# The strict variant needs two signals for "relevant": a second offline judge, so the sample
# project can run a real A/B experiment without any API key.
JUDGE_MODELS = {"keyword-judge": 1, "keyword-judge-strict": 2}
DRAFT_MODELS = {"template-drafter"}

_SIGNALS_RE = re.compile(r"^(Positive|Negative) signals:\s*(.*)$", re.MULTILINE)


def _message_text(messages: list[dict[str, Any]], role: str) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == role)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The per-post message: few-shot examples are earlier user turns."""
    users = [m for m in messages if m.get("role") == "user"]
    return str(users[-1].get("content") or "") if users else ""


def _post(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The untrusted block's fields, read like a model would (nothing when there is none)."""
    from signalops_assets.judging.prompts import decode_post

    try:
        return decode_post(last_user_text(messages))
    except ValueError:
        return {}


def _signals(system: str) -> tuple[list[str], list[str]]:
    found: dict[str, list[str]] = {"Positive": [], "Negative": []}
    for kind, values in _SIGNALS_RE.findall(system):
        found[kind] = [v.strip().lower() for v in values.split(";") if v.strip()]
    return found["Positive"], found["Negative"]


def keyword_judgment(messages: list[dict[str, Any]], threshold: int = 1) -> dict[str, Any]:
    """The judgment a real model would return, from signal counts in the delimited post."""
    positive, negative = _signals(_message_text(messages, "system"))
    post = str(_post(messages).get("text") or "").lower()
    pos = [s for s in positive if s in post]
    neg = [s for s in negative if s in post]
    score = len(pos) - len(neg)
    if not post.strip():
        return {"label": Label.IRRELEVANT.value, "confidence": 0.9, "reasoning": "empty post"}
    if score >= threshold:
        label, confidence = Label.RELEVANT.value, min(0.55 + 0.15 * score, 0.95)
    elif score <= -1 or not pos or score < threshold - 1:
        label, confidence = Label.IRRELEVANT.value, min(0.6 + 0.1 * max(len(neg), 1), 0.95)
    else:
        label, confidence = Label.MAYBE.value, 0.5
    why = f"positive signals: {', '.join(pos) or 'none'}; negative: {', '.join(neg) or 'none'}"
    return {"label": label, "confidence": round(confidence, 2), "reasoning": why}


def template_draft(messages: list[dict[str, Any]]) -> str:
    fields = _post(messages)
    post = str(fields.get("text") or "").strip()
    handle = (str(fields.get("author") or "").split() or ["there"])[0]
    topic = " ".join(post.split()[:8])
    return (
        f'Hi {handle}, thanks for sharing this. On "{topic}": Spectra\'s `spectra trace` '
        "command can show where the time goes. Happy to help if you want to try it "
        "(I work on Spectra)."
    )


def _answer(model: str, messages: list[dict[str, Any]]) -> str:
    name = model.removeprefix(f"{PROVIDER}/")
    if name.startswith("trained-judge/"):
        # A judge the offline fine-tune backend trained (fine_tuning.local_backend).
        from signalops_assets.errors import SignalOpsError
        from signalops_assets.fine_tuning.local_backend import judge_answer

        try:
            return judge_answer(name, messages)
        except SignalOpsError as exc:
            raise ValueError(str(exc)) from None
    if name in JUDGE_MODELS:
        return json.dumps(keyword_judgment(messages, JUDGE_MODELS[name]))
    if name in DRAFT_MODELS:
        return template_draft(messages)
    raise ValueError(
        f"unknown local model '{model}' "
        "(known: keyword-judge, keyword-judge-strict, template-drafter, trained-judge/NAME@VERSION)"
    )


def conform(content: str, response_format: dict[str, Any]) -> str:
    """Honour a `json_schema` response_format like a constrained decoder: only the schema's
    properties, every required one present, enums and number bounds kept; else an error."""
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    properties: dict[str, Any] = schema.get("properties") or {}
    data = json.loads(content)
    missing = [k for k in schema.get("required") or [] if k not in data]
    if missing:
        raise ValueError(f"answer lacks required field(s) {', '.join(missing)}")
    out = {k: data[k] for k in properties if k in data}
    for key, spec in properties.items():
        value = out.get(key)
        if value is None:
            continue
        if "enum" in spec and value not in spec["enum"]:
            raise ValueError(f"{key} {value!r} is not one of {spec['enum']}")
        if spec.get("type") == "number" and not (
            spec.get("minimum", value) <= value <= spec.get("maximum", value)
        ):
            raise ValueError(f"{key} {value} is outside the schema's bounds")
    return json.dumps(out)


def _words(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in messages)


def build_handler() -> Any:
    """A litellm CustomLLM instance; built lazily because importing litellm is slow."""
    from litellm import ModelResponse
    from litellm.llms.custom_llm import CustomLLM, CustomLLMError

    class LocalProvider(CustomLLM):
        def _respond(
            self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
        ) -> Any:
            try:
                content = _answer(model, messages)
                response_format = params.get("response_format")
                if isinstance(response_format, dict) and response_format.get("json_schema"):
                    content = conform(content, response_format)
            except ValueError as exc:
                raise CustomLLMError(status_code=404, message=str(exc)) from None  # type: ignore[no-untyped-call]
            prompt_tokens = _words(messages)
            completion_tokens = len(content.split())
            return ModelResponse(
                model=model,
                created=int(time.time()),
                choices=[{"message": {"role": "assistant", "content": content}, "index": 0}],
                usage={
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            )

        def completion(self, model: str, messages: list[Any], *args: Any, **kw: Any) -> Any:
            return self._respond(model, messages, kw.get("optional_params") or {})

        async def acompletion(self, model: str, messages: list[Any], *args: Any, **kw: Any) -> Any:
            return self._respond(model, messages, kw.get("optional_params") or {})

    return LocalProvider()
