import json
from pathlib import Path
from typing import Any

import pytest

from signalops_assets.preferences.formats import (
    EXPORT_FORMATS,
    ExportFormat,
    build_record,
    prompt_to_messages,
    render_prompt,
    split_bucket,
    validate_file,
    validate_line,
)

PROMPT = [
    {"role": "system", "content": "You draft short, friendly replies."},
    {"role": "user", "content": "Post: my order never arrived 😡"},
]
CHOSEN = "Sorry about that! DM us your order number and we'll sort it out today."
REJECTED = "We apologize for the inconvenience."


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_each_format_round_trips_through_validate_line(fmt: ExportFormat) -> None:
    record = build_record(PROMPT, CHOSEN, REJECTED, fmt)
    assert validate_line(_line(record), fmt) is None
    assert json.loads(_line(record)) == record


def test_trl_is_the_default_with_an_explicit_string_prompt() -> None:
    record = build_record(PROMPT, CHOSEN, REJECTED)
    assert set(record) == {"prompt", "chosen", "rejected"}
    assert record["prompt"] == render_prompt(PROMPT)
    assert record["prompt"].startswith("System:\nYou draft short")
    assert "User:\nPost: my order never arrived 😡" in record["prompt"]
    assert record["prompt"].endswith("Assistant:\n")
    assert (record["chosen"], record["rejected"]) == (CHOSEN, REJECTED)


def test_trl_conversational_shape() -> None:
    record = build_record(PROMPT, CHOSEN, REJECTED, "trl-conversational")
    assert record == {
        "prompt": PROMPT,
        "chosen": [{"role": "assistant", "content": CHOSEN}],
        "rejected": [{"role": "assistant", "content": REJECTED}],
    }


def test_openai_shape() -> None:
    record = build_record(PROMPT, CHOSEN, REJECTED, "openai")
    assert record == {
        "input": {"messages": PROMPT, "tools": [], "parallel_tool_calls": True},
        "preferred_output": [{"role": "assistant", "content": CHOSEN}],
        "non_preferred_output": [{"role": "assistant", "content": REJECTED}],
    }


def test_build_record_copies_messages_and_drops_extra_keys() -> None:
    prompt = [{"role": "user", "content": "hi", "name": "bob"}]
    record = build_record(prompt, CHOSEN, REJECTED, "trl-conversational")
    assert record["prompt"] == [{"role": "user", "content": "hi"}]
    record["prompt"][0]["content"] = "changed"
    assert prompt[0]["content"] == "hi"


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        build_record(PROMPT, CHOSEN, REJECTED, "jsonl")
    with pytest.raises(ValueError, match="unknown export format"):
        validate_line("{}", "dpo")


def _without(record: dict[str, Any], *path: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(record))
    target = copy
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return copy


@pytest.mark.parametrize(
    ("fmt", "path"),
    [
        ("trl", ("prompt",)),
        ("trl", ("chosen",)),
        ("trl", ("rejected",)),
        ("trl-conversational", ("chosen",)),
        ("openai", ("input",)),
        ("openai", ("input", "messages")),
        ("openai", ("preferred_output",)),
        ("openai", ("non_preferred_output",)),
    ],
)
def test_missing_keys(fmt: ExportFormat, path: tuple[str, ...]) -> None:
    record = _without(build_record(PROMPT, CHOSEN, REJECTED, fmt), *path)
    error = validate_line(_line(record), fmt)
    assert error is not None and "missing key" in error and path[-1] in error


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
@pytest.mark.parametrize(("chosen", "rejected"), [("", REJECTED), (CHOSEN, "  ")])
def test_empty_text(fmt: ExportFormat, chosen: str, rejected: str) -> None:
    error = validate_line(_line(build_record(PROMPT, chosen, rejected, fmt)), fmt)
    assert error is not None and "empty" in error


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_chosen_equal_to_rejected(fmt: ExportFormat) -> None:
    error = validate_line(_line(build_record(PROMPT, CHOSEN, CHOSEN, fmt)), fmt)
    assert error is not None and "identical" in error


@pytest.mark.parametrize(
    ("fmt", "record", "fragment"),
    [
        ("trl", {"prompt": "p", "chosen": 1, "rejected": "r"}, "'chosen' must be a string"),
        ("trl", {"prompt": "", "chosen": "c", "rejected": "r"}, "'prompt' is empty"),
        (
            "trl-conversational",
            {"prompt": "p", "chosen": [], "rejected": []},
            "'prompt' must be a list",
        ),
        (
            "trl-conversational",
            {"prompt": [{"role": "user"}], "chosen": [], "rejected": []},
            "missing 'content'",
        ),
        (
            "trl-conversational",
            {
                "prompt": PROMPT,
                "chosen": [{"role": "user", "content": "c"}],
                "rejected": [{"role": "assistant", "content": "r"}],
            },
            "must be 'assistant'",
        ),
        (
            "openai",
            {
                "input": {"messages": PROMPT},
                "preferred_output": [
                    {"role": "assistant", "content": "a"},
                    {"role": "assistant", "content": "b"},
                ],
                "non_preferred_output": [{"role": "assistant", "content": "r"}],
            },
            "exactly one message",
        ),
        (
            "openai",
            {
                "input": {"messages": PROMPT, "parallel_tool_calls": "yes"},
                "preferred_output": [{"role": "assistant", "content": "c"}],
                "non_preferred_output": [{"role": "assistant", "content": "r"}],
            },
            "parallel_tool_calls",
        ),
        ("openai", {"input": [], "preferred_output": [], "non_preferred_output": []}, "object"),
    ],
)
def test_wrong_types(fmt: ExportFormat, record: dict[str, Any], fragment: str) -> None:
    error = validate_line(_line(record), fmt)
    assert error is not None and fragment in error


@pytest.mark.parametrize(
    ("line", "fragment"),
    [("{not json", "invalid JSON"), ("[1, 2]", "JSON object"), ("   ", "empty line")],
)
def test_bad_lines(line: str, fragment: str) -> None:
    error = validate_line(line)
    assert error is not None and fragment in error


def test_validate_file_reports_line_numbers(tmp_path: Path) -> None:
    good = _line(build_record(PROMPT, CHOSEN, REJECTED))
    lines = [
        good,
        "{oops",
        good,
        _line(build_record(PROMPT, CHOSEN, CHOSEN)),
        _line(_without(build_record(PROMPT, CHOSEN, REJECTED), "rejected")),
        _line(build_record(PROMPT, "", REJECTED)),
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe\n" + good.encode())
    report = validate_file(path)
    assert report.lines == 8
    assert [n for n, _ in report.errors] == [2, 4, 5, 6, 7]
    assert "invalid JSON" in report.errors[0][1]
    assert "identical" in report.errors[1][1]
    assert "missing key 'rejected'" in report.errors[2][1]
    assert "empty" in report.errors[3][1]
    assert "UTF-8" in report.errors[4][1]
    assert not report.ok


def test_validate_file_accepts_a_clean_file_with_unicode_line_separators(tmp_path: Path) -> None:
    # U+2028 is emitted raw by json.dumps(ensure_ascii=False); it must not split a record.
    fmt: ExportFormat = "openai"
    records = [build_record(PROMPT, f"reply {i}\u2028more", REJECTED, fmt) for i in range(3)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(_line(r) + "\n" for r in records), encoding="utf-8")
    report = validate_file(path, fmt)
    assert (report.lines, report.errors, report.ok) == (3, [], True)


def test_split_is_deterministic_and_close_to_the_fraction() -> None:
    keys = [f"post-{i}" for i in range(10_000)]
    first = [split_bucket(k) for k in keys]
    assert first == [split_bucket(k) for k in keys]
    assert 900 <= sum(b < 0.1 for b in first) <= 1100
    assert 2_700 <= sum(b < 0.3 for b in first) <= 3_300


def test_split_pinned_values_and_edges() -> None:
    # Pinned: changing the hashing would silently move posts between train and eval.
    assert [i for i in range(40) if split_bucket(f"post-{i}") < 0.1] == [3, 4, 8, 9, 20, 34]
    assert 0.0 <= split_bucket("anything") < 1.0


def test_split_grows_eval_monotonically_and_depends_on_salt() -> None:
    keys = [f"p{i}" for i in range(500)]
    small = {k for k in keys if split_bucket(k) < 0.1}
    large = {k for k in keys if split_bucket(k) < 0.5}
    assert small < large
    other_salt = {k for k in keys if split_bucket(k, salt="other") < 0.5}
    assert other_salt != large


def test_prompt_to_messages_from_json() -> None:
    assert prompt_to_messages(json.dumps(PROMPT)) == PROMPT
    parts = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]
    assert prompt_to_messages(json.dumps(parts)) == [{"role": "user", "content": "ab"}]


@pytest.mark.parametrize("text", ["Reply to this post", "42", '"quoted"', "[1, 2]", '{"a": 1}'])
def test_prompt_to_messages_from_plain_text(text: str) -> None:
    assert prompt_to_messages(text) == [{"role": "user", "content": text}]


@pytest.mark.parametrize(
    "prompt", ["", "   ", json.dumps([{"role": "user"}]), json.dumps([{"role": 1, "content": "x"}])]
)
def test_prompt_to_messages_rejects_empty_or_malformed(prompt: str) -> None:
    with pytest.raises(ValueError):
        prompt_to_messages(prompt)
