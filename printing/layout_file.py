"""Writing layout files: a layout's raw table (what `tomllib` reads from a layout TOML) back
to TOML, and replacing a layout file safely (checked first, atomically, the old one kept
as `.bak`)."""
from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from printing.errors import LayoutError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
TABLE_LISTS = ("draw", "fields")     # written as [[draw]] / [[fields]] blocks, one entry each


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def toml_string(s: str) -> str:
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise LayoutError("a layout number must be finite", code="layout_invalid")
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    raise LayoutError(f"a layout cannot hold a {type(v).__name__}", code="layout_invalid")


def dump_layout(raw: dict, header: str = "", trailer: str = "") -> str:
    """TOML for a layout table: its plain keys, then one [[draw]] / [[fields]] block per entry.
    `header` and `trailer` are comment text (each line gets "# ")."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for k, v in raw.items():
        if k not in TABLE_LISTS:
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
    for k in TABLE_LISTS:
        for entry in raw.get(k) or []:
            if not isinstance(entry, dict):
                raise LayoutError(f"every entry of `{k}` must be a table", code="layout_invalid")
            lines += ["", f"[[{k}]]"] + [f"{toml_key(str(ek))} = {toml_value(ev)}" for ek, ev in entry.items()]
    if trailer:
        lines += [""] + [f"# {line}".rstrip() for line in trailer.splitlines()]
    return "\n".join(lines) + "\n"


def digest(data: bytes | None) -> str:
    """What an audit entry names a file's content by (empty for no file)."""
    return hashlib.sha256(data).hexdigest() if data is not None else ""


def replace_file(path: Path, data: bytes, check: Callable[[Path], None] | None = None) -> bytes | None:
    """Write `data` to `path` atomically, after `check(new_file)` passed on the new file beside
    it (it raises to refuse: the old file stays as it was); a different previous file is kept
    as `<name>.bak`. Returns the previous bytes (None when there was no file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_bytes() if path.is_file() else None
    if old == data:
        return old
    # not named *.toml / *.pdf: the catalogue hashes every layouts/*.toml it finds
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)       # a layout and a blank form hold no personal data
        if check is not None:
            check(Path(tmp))
        if old is not None:
            path.with_name(path.name + ".bak").write_bytes(old)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return old
