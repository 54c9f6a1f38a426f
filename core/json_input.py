"""Reading JSON sent by a client, which may be hostile: the one loader every JSON API uses.

`json.loads` alone accepts things the rest of the code cannot handle: nesting thousands
deep (RecursionError while parsing, or later while walking the value), lone surrogates
from `"\\ud800"` escapes (they cannot be encoded as UTF-8, so storing, logging or printing
them fails), NaN and Infinity (not JSON), and integers of thousands of digits.
"""
from __future__ import annotations

import json
from typing import Any

from core.errors import MadoguchiError

MAX_DEPTH = 32


class BadJSON(MadoguchiError):
    """Codes: `bad_json` (not JSON), `too_deep` (nested past the limit), `bad_text` (a string that
    is not text: a lone surrogate)."""

    code = "bad_json"


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


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
    too_deep = BadJSON(f"JSON nested deeper than {max_depth} levels", code="too_deep")
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:       # the parser's own limit: far past ours
        raise too_deep from None
    except ValueError:
        raise BadJSON("the body is not JSON", code="bad_json") from None
    # One walk without recursion: how deep it nests, and whether every string is text.
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                raise BadJSON("a string holds a lone surrogate", code="bad_text")
        elif isinstance(item, (dict, list)):
            if depth + 1 > max_depth:
                raise too_deep
            if isinstance(item, dict):
                for key in item:
                    if _has_surrogate(key):
                        raise BadJSON("a key holds a lone surrogate", code="bad_text")
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return value
