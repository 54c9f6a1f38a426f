"""Reading JSON sent by a client, which may be hostile: the one loader every JSON API uses.

`json.loads` alone accepts things the rest of the code cannot handle: nesting thousands
deep (RecursionError while parsing, or later while walking the value), lone surrogates
from `"\\ud800"` escapes (they cannot be encoded as UTF-8, so storing, logging or printing
them fails), NaN and Infinity (not JSON), and integers of thousands of digits.
"""
from __future__ import annotations

import json
import re
from typing import Any

from core.errors import MadoguchiError

MAX_DEPTH = 32
_STRINGS_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS_RE = re.compile(r"[\[\]{}]")


class BadJSON(MadoguchiError):
    """Codes: `bad_json` (not JSON), `too_deep` (nested past the limit), `bad_text` (a string that
    is not text: a lone surrogate)."""

    code = "bad_json"


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _depth(text: str) -> int:
    """How deep arrays and objects nest, counted without recursion (strings skipped)."""
    depth = deepest = 0
    for bracket in _BRACKETS_RE.findall(_STRINGS_RE.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _has_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The value of a JSON text; raises BadJSON. Messages never quote the text (personal data)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadJSON("the body is not UTF-8", code="bad_json") from None
    if _depth(data) > max_depth:
        raise BadJSON(f"JSON nested deeper than {max_depth} levels", code="too_deep")
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise BadJSON("the body is not JSON", code="bad_json") from None
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                raise BadJSON("a string holds a lone surrogate", code="bad_text")
        elif isinstance(item, dict):
            for key, v in item.items():
                if _has_surrogate(key):
                    raise BadJSON("a key holds a lone surrogate", code="bad_text")
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return value
