"""Export record builders and validators for DPO preference JSONL files.

Formats followed (checked against the docs, not against an installed TRL, which is not a
dependency):
- "trl" / "trl-conversational": TRL "Dataset formats and types", preference type, standard
  and conversational formats (https://huggingface.co/docs/trl/dataset_formats). We always
  write an explicit prompt: with the implicit-prompt form TRL takes the longest common prefix
  of chosen and rejected as the prompt, which for a lightly edited reply is most of the reply.
- "openai": OpenAI "Direct preference optimization" fine-tuning data format
  (https://platform.openai.com/docs/guides/direct-preference-optimization): input.messages,
  one-message preferred_output and non_preferred_output.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import orjson

from signalops_assets.hashing import stable_unit

ExportFormat = Literal["trl", "trl-conversational", "openai"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
DEFAULT_FORMAT: ExportFormat = "trl"

Message = dict[str, str]


def _check_format(fmt: str) -> ExportFormat:
    for known in EXPORT_FORMATS:
        if fmt == known:
            return known
    raise ValueError(f"unknown export format {fmt!r}; expected one of {list(EXPORT_FORMATS)}")


def _clean_messages(messages: list[Message]) -> list[Message]:
    # Copy, and keep only role/content: extra keys (name, ids) are not part of these formats.
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def render_prompt(messages: list[Message]) -> str:
    """Flatten chat messages into the single prompt string of the standard TRL format.

    There is no tokenizer here to apply a model's chat template, so this is a plain,
    stable transcript ending in an assistant cue, so that chosen/rejected read as its
    continuation. Use "trl-conversational" to let the trainer apply the real template.
    """
    parts = [f"{m['role'].capitalize()}:\n{m['content']}" for m in messages]
    return "\n\n".join([*parts, "Assistant:\n"])


def build_record(
    prompt_messages: list[Message],
    chosen: str,
    rejected: str,
    fmt: ExportFormat | str = DEFAULT_FORMAT,
) -> dict[str, Any]:
    """One JSONL record for a pair; chosen is the reviewer's text, rejected the draft."""
    fmt = _check_format(fmt)
    messages = _clean_messages(prompt_messages)
    if fmt == "trl":
        return {"prompt": render_prompt(messages), "chosen": chosen, "rejected": rejected}
    good = [{"role": "assistant", "content": chosen}]
    bad = [{"role": "assistant", "content": rejected}]
    if fmt == "trl-conversational":
        return {"prompt": messages, "chosen": good, "rejected": bad}
    return {
        "input": {"messages": messages, "tools": [], "parallel_tool_calls": True},
        "preferred_output": good,
        "non_preferred_output": bad,
    }


def _text_error(value: Any, name: str) -> str | None:
    if not isinstance(value, str):
        return f"'{name}' must be a string, got {type(value).__name__}"
    if not value.strip():
        return f"'{name}' is empty"
    return None


def _messages_error(value: Any, name: str, *, assistant_reply: bool = False) -> str | None:
    if not isinstance(value, list):
        return f"'{name}' must be a list of messages, got {type(value).__name__}"
    if not value:
        return f"'{name}' has no messages"
    if assistant_reply and len(value) != 1:
        return f"'{name}' must hold exactly one message, got {len(value)}"
    for i, msg in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(msg, dict):
            return f"'{where}' must be an object"
        for key in ("role", "content"):
            if key not in msg:
                return f"'{where}' is missing '{key}'"
        if not isinstance(msg["role"], str) or not msg["role"]:
            return f"'{where}.role' must be a non-empty string"
        if error := _text_error(msg["content"], f"{where}.content"):
            return error
    if assistant_reply and value[0]["role"] != "assistant":
        return f"'{name}[0].role' must be 'assistant', got {value[0]['role']!r}"
    return None


def _shape_error(record: dict[str, Any], fmt: ExportFormat) -> str | None:
    if fmt == "openai":
        keys = ("input", "preferred_output", "non_preferred_output")
    else:
        keys = ("prompt", "chosen", "rejected")
    for key in keys:
        if key not in record:
            return f"missing key '{key}'"

    if fmt == "trl":
        checks = [_text_error(record[key], key) for key in keys]
    elif fmt == "trl-conversational":
        checks = [_messages_error(record["prompt"], "prompt")]
        checks += [_messages_error(record[k], k, assistant_reply=True) for k in keys[1:]]
    else:
        inp = record["input"]
        if not isinstance(inp, dict):
            return "'input' must be an object"
        if "messages" not in inp:
            return "missing key 'input.messages'"
        checks = [_messages_error(inp["messages"], "input.messages")]
        if "tools" in inp and not isinstance(inp["tools"], list):
            checks.append("'input.tools' must be a list")
        if "parallel_tool_calls" in inp and not isinstance(inp["parallel_tool_calls"], bool):
            checks.append("'input.parallel_tool_calls' must be a boolean")
        checks += [_messages_error(record[k], k, assistant_reply=True) for k in keys[1:]]
    for error in checks:
        if error:
            return error
    if record[keys[1]] == record[keys[2]]:
        return f"'{keys[1]}' and '{keys[2]}' are identical"
    return None


def validate_line(line: str, fmt: ExportFormat | str = DEFAULT_FORMAT) -> str | None:
    """Return why one JSONL line is not a valid record of `fmt`, or None if it is."""
    checked = _check_format(fmt)
    if not line.strip():
        return "empty line"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    return _shape_error(record, checked)


@dataclass
class ValidationReport:
    lines: int
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_file(path: str | Path, fmt: ExportFormat | str = DEFAULT_FORMAT) -> ValidationReport:
    """Validate every line of a JSONL file; line numbers are 1-based."""
    _check_format(fmt)
    report = ValidationReport(lines=0)
    # Binary and split on b"\n" only: text-mode reading would also split on a lone "\r", and
    # a bad UTF-8 byte should be reported against its line rather than abort the whole run.
    with Path(path).open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            report.lines = line_no
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                report.errors.append((line_no, f"invalid UTF-8 at byte {exc.start}"))
                continue
            if error := validate_line(line, fmt):
                report.errors.append((line_no, error))
    return report


def split_bucket(post_key: str, salt: str = "dpo-split") -> float:
    """Where a post falls in [0, 1): below eval_fraction means eval."""
    return stable_unit(salt, post_key)


def prompt_key(messages: list[Message]) -> str:
    """What makes two prompts the same post: the author and text the block carries (so a
    crosspost under another platform id, or a prompt sent under an older system prompt, is the
    same post), else every non-system message; normalized as `quality.normalize` does."""
    from signalops_assets.judging.untrusted import decode_block
    from signalops_assets.preferences.quality import normalize

    asked = [m["content"] for m in messages if m["role"] != "system"]
    try:
        fields = decode_block(asked[-1])
        parts = [str(fields.get("author", "")), str(fields.get("text", ""))]
    except (ValueError, IndexError):
        parts = asked
    joined = "\x00".join(normalize(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    # OpenAI-style content parts: [{"type": "text", "text": "..."}, ...]
    if isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        for p in content
    ):
        return "".join(p["text"] for p in content)
    return None


def prompt_to_messages(prompt: str) -> list[Message]:
    """Messages from a stored draft prompt: a JSON list of messages, or plain text.

    Plain text (including text that merely parses as JSON, like "42") becomes one user
    message. A JSON list of objects that carry "role" is treated as messages and must be
    well-formed, so a malformed stored prompt fails loudly instead of being trained on as
    literal JSON text. Raises ValueError for an empty prompt or malformed messages.
    """
    if not prompt.strip():
        raise ValueError("empty prompt")
    try:
        parsed = orjson.loads(prompt)
    except orjson.JSONDecodeError:
        parsed = None
    if not (
        isinstance(parsed, list)
        and parsed
        and all(isinstance(m, dict) and "role" in m for m in parsed)
    ):
        return [{"role": "user", "content": prompt}]

    messages: list[Message] = []
    for i, msg in enumerate(parsed):
        role, content = msg["role"], _content_text(msg.get("content"))
        if not isinstance(role, str) or not role or content is None:
            raise ValueError(f"prompt message {i} needs a string role and text content")
        messages.append({"role": role, "content": content})
    return messages
