"""Strategies and assertions shared by the fuzz tests."""

from __future__ import annotations

import json
import re
from typing import Any

from click.testing import Result
from hypothesis import strategies as st

EXAMPLES: dict[str, int] = {}  # test name -> examples run, printed by the fuzz tests

# Any code point, lone surrogates included (st.text() leaves those out by default).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**31 - 5, max_value=2**70)
    | st.floats()
    | any_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)
SNIPPETS = [
    b'"\\u0000"',
    b'"\\ud800"',
    b"NaN",
    b"-Infinity",
    b"[" * 3000 + b"]" * 3000,
    b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b"1" * 5000,
    b"\xef\xbb\xbf",
    b"\x00",
    b"\r",
    "\u2028".encode(),
]


def encode_json(value: Any, ascii_only: bool, codec: str) -> bytes:
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode(codec, "surrogatepass" if codec == "utf-8" else "replace")


@st.composite
def jsonl_file(draw: st.DrawFn, record: st.SearchStrategy[Any]) -> bytes:
    """A JSONL file mixing well-formed records, other encodings, raw bytes and nasty snippets."""
    line = st.one_of(
        st.builds(
            encode_json, record, st.booleans(), st.sampled_from(["utf-8", "latin-1", "utf-16"])
        ),
        st.builds(encode_json, json_values, st.booleans(), st.just("utf-8")),
        st.binary(max_size=30),
        st.sampled_from(SNIPPETS),
        st.builds(lambda a, b: a + b, st.sampled_from(SNIPPETS), st.binary(max_size=5)),
    )
    lines = draw(st.lists(line, max_size=8))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    return bom + end.join(lines) + draw(st.sampled_from([b"", end]))


REPORT = re.compile(r"^.+:\d+: skipped: .+$|^\.\.\. and \d+ more bad (lines|rows)$|^error: .+$")


def check_cli(result: Result, max_stderr_lines: int) -> None:
    """Exit 0 or 2, never a traceback, at most the given number of stderr lines, each a
    report (`FILE:LINE: skipped: ...`) or one `error: ...` line."""
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) <= max_stderr_lines, result.stderr
    assert all(REPORT.match(line) for line in lines), result.stderr
    if result.exit_code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def physical_lines(data: bytes) -> int:
    return data.count(b"\n") + 1
