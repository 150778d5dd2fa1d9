"""Lenient JSON extraction from model output: fences and prose around the object are common."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class JSONParseResult:
    data: dict[str, Any] | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.data is not None


def _candidates(text: str) -> list[str]:
    found = [m.group(1).strip() for m in _FENCE_RE.finditer(text)]
    found.append(text.strip())
    # The outermost {...} span, for prose before and after the object.
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        found.append(text[start : end + 1])
    return found


def parse_json_object(text: str) -> JSONParseResult:
    """The first JSON object in `text`, or a typed failure (never raises)."""
    if not text or not text.strip():
        return JSONParseResult(None, "empty response")
    decoder = json.JSONDecoder()
    for candidate in _candidates(text):
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            brace = candidate.find("{")
            if brace < 0:
                continue
            try:
                value, _ = decoder.raw_decode(candidate[brace:])
            except json.JSONDecodeError:
                continue
        if isinstance(value, dict):
            return JSONParseResult(value)
    snippet = " ".join(text.split())[:80]
    return JSONParseResult(None, f"no JSON object in response: {snippet!r}")
