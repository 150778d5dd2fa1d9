"""One encoder for every untrusted field a prompt carries (post text, author, bio, ...).

The fields become one JSON object between an opening and a closing tag that carry a nonce:

    <untrusted_3f9c0a1b2c3d4e5f>
    {"author": "@eve", "author_bio": "...", "text": "..."}
    </untrusted_3f9c0a1b2c3d4e5f>

Why no content can close the block, in any spelling: inside the block every `<`, `>` and `&`,
every character whose compatibility decomposition contains `<` or `>` (fullwidth `＜`, small
`﹤`, `≮`, ...), every control, format (zero-width, bidi), surrogate, private-use, unassigned and
line/paragraph-separator character is written as a JSON `\\uXXXX` escape, and JSON escapes line
breaks. So after any normalisation a reader might apply (NFKC, dropping zero-width and bidi
controls, case folding, collapsing whitespace) the block's body holds no angle bracket at all,
hence no tag; `render_block` re-checks that on every call and raises if it ever failed.

The nonce is a keyed hash of the fields, not a random draw: the same post always renders to the
same prompt, so the training export equals what the judge sends. The key is not a secret and the
guarantee does not depend on it: the nonce only makes the real closing tag one that a post's
author cannot even write escaped (its nonce depends on the text that would contain it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

TAG = "untrusted"
_NONCE_KEY = b"signalops/untrusted-block/v1"
# The categories escaped inside the block: controls, format (zero-width, bidi), surrogates,
# private use, unassigned, and line/paragraph separators (some renderers break lines there).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Zero-width and bidi characters a normaliser drops before comparing (all are category Cf
# except the variation selectors, Mn): U+200B-U+200F, U+202A-U+202E, U+2060-U+2069, U+FEFF.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\ufe00-\ufe0f\ufeff\U000e0000-\U000e0fff]"
)
# Everything but printable ASCII other than & < >: only those characters need a closer look.
_NEEDS_CHECK = re.compile(r"[^\x20-\x25\x27-\x3b\x3d\x3f-\x7e]")
_BLOCK = re.compile(rf"<({TAG}_[0-9a-f]{{16}})>\n(.*?)\n</\1>", re.DOTALL)


class UntrustedEncodingError(RuntimeError):
    """The encoder's own invariant failed: a bug, never a property of the input."""


def normalize_for_check(text: str) -> str:
    """What a lenient reader might see: NFKC, no zero-width/bidi characters, case-folded,
    whitespace runs collapsed to one space."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(unicodedata.normalize("NFKC", text.casefold()).split())


@functools.lru_cache(maxsize=65536)
def _escape_char(ch: str) -> str:
    code = ord(ch)
    if (
        ch in "<>&"
        or unicodedata.category(ch) in _ESCAPED_CATEGORIES
        or any(c in "<>" for c in unicodedata.normalize("NFKD", ch))
    ):
        if code > 0xFFFF:  # JSON spells astral characters as a surrogate pair
            code -= 0x10000
            return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
        return f"\\u{code:04x}"
    return ch


def encode_fields(fields: Mapping[str, Any]) -> str:
    """The fields as one JSON object on one line, with the escapes described above."""
    raw = json.dumps(dict(fields), ensure_ascii=False, separators=(", ", ": "))
    return _NEEDS_CHECK.sub(lambda m: _escape_char(m.group()), raw)


def block_id(body: str) -> str:
    """`untrusted_<16 hex>`, a keyed BLAKE2b of the encoded body."""
    digest = hashlib.blake2b(body.encode("utf-8", "surrogatepass"), key=_NONCE_KEY, digest_size=8)
    return f"{TAG}_{digest.hexdigest()}"


def render_block(fields: Mapping[str, Any]) -> str:
    """The delimited block for these fields; raises UntrustedEncodingError if the encoded body
    could, under any normalisation, contain an angle bracket (it cannot: see the module)."""
    body = encode_fields(fields)
    name = block_id(body)
    seen = normalize_for_check(body)
    if "<" in seen or ">" in seen or name in seen:
        raise UntrustedEncodingError(f"encoded untrusted text still contains a tag: {seen[:80]!r}")
    return f"<{name}>\n{body}\n</{name}>"


def decode_block(prompt: str) -> dict[str, Any]:
    """The fields of the one block in `prompt` (ValueError if there is not exactly one)."""
    found = _BLOCK.findall(prompt)
    if len(found) != 1:
        raise ValueError(f"expected one untrusted block, found {len(found)}")
    value = json.loads(found[0][1])
    if not isinstance(value, dict):
        raise ValueError("the untrusted block is not a JSON object")
    return value
