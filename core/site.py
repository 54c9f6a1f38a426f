"""The city's own folder (`[site].folder`): everything that makes the system a municipality's.

    <site>/site.toml                      the municipality, the addressee on forms, branding,
                                          the privacy notice, built-in procedures switched off
    <site>/offices.toml                   offices (本庁舎, 支所) with their sections and windows
    <site>/procedures/<id>.toml           a procedure of the city's own, or one overriding a
                                          built-in of the same id (only the keys it sets)
    <site>/procedures/layouts/<id>.toml   a form layout (for any procedure, built-in or own)
    <site>/procedures/backgrounds/*.pdf   the city's blank forms, under the layouts
    <site>/<logo file>                    named by site.toml

`load_site(folder)` reads and checks it (SiteError names the file, the line and the key);
`activate(site)` makes it the one every surface, the CLI and the forwarder use
(`current_site()`, and `core.catalogue.get_catalogue()` resolves its procedures).
`check_site(folder)` lists every problem instead of stopping at the first (`madoguchi site check`).
No folder (`folder = ""`) is a site with no name: nothing is printed as the municipality.
"""
from __future__ import annotations

import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import MadoguchiError

LANGS = ("ja", "en", "zh", "ko", "vi", "pt", "ja-easy")
_COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}
MAX_LOGO_BYTES = 512 * 1024


class SiteError(MadoguchiError):
    """A site folder that cannot be used; the message names the file, the line and the key."""

    code = "site_invalid"

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def lgu_check_digit(first_five: str) -> int:
    """The check digit of a 地方公共団体コード (総務省: weights 6..2, 11 minus the remainder, last digit)."""
    total = sum(int(d) * w for d, w in zip(first_five, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def is_lgu_code(code: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{6}", code)) and lgu_check_digit(code[:5]) == int(code[5])


@dataclass(frozen=True)
class Section:
    """A section (課) and its window: where a visitor takes the forms of its procedures."""

    id: str
    name: dict
    floor: str = ""
    window: str = ""
    hours: dict = field(default_factory=dict)
    procedures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Office:
    id: str
    name: dict
    address: str = ""
    hours: dict = field(default_factory=dict)
    sections: tuple[Section, ...] = ()


@dataclass(frozen=True)
class Site:
    folder: Path | None = None
    name: dict = field(default_factory=dict)          # the municipality, by language
    code: str = ""                                    # 地方公共団体コード (6 digits, with its check digit)
    addressee: dict = field(default_factory=dict)     # printed on forms: 〇〇市長 あて
    logo: Path | None = None
    colours: dict = field(default_factory=dict)       # primary, accent: "#rrggbb"
    privacy_notice: dict = field(default_factory=dict)
    disabled: tuple[str, ...] = ()                    # built-in procedures switched off
    offices: tuple[Office, ...] = ()

    @property
    def procedures_dir(self) -> Path | None:
        """Where the city's procedures, `layouts/` and `backgrounds/` are (None without a folder)."""
        return self.folder / "procedures" if self.folder else None

    @property
    def layouts_dir(self) -> Path | None:
        return self.procedures_dir / "layouts" if self.procedures_dir else None

    @property
    def backgrounds_dir(self) -> Path | None:
        return self.procedures_dir / "backgrounds" if self.procedures_dir else None

    def office(self, office_id: str | None = None) -> Office | None:
        """The office of that id, or the first (the main office) when it is not named or not found."""
        for o in self.offices:
            if o.id == office_id:
                return o
        return self.offices[0] if self.offices else None

    def office_id(self, office_id: str | None = None) -> str:
        """The id of that office (or the main one; "" without offices): where an application was made."""
        office = self.office(office_id)
        return office.id if office else ""

    def sections_for(self, procedure_id: str, office_id: str | None = None) -> list[Section]:
        """The sections of an office (the main one by default) that take a procedure's forms."""
        office = self.office(office_id)
        return [s for s in office.sections if procedure_id in s.procedures] if office else []


NO_SITE = Site()


# --- reading a folder ------------------------------------------------------------------------

_HEADER_RE = re.compile(r"^(\[\[?)\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*\]\]?")
_KEY_RE = re.compile(r"^([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=")


def key_lines(text: str) -> dict[str, int]:
    """Each key and table of a TOML text, as a path like `offices[1].sections[0].id`, → its line.

    Good enough for pointing at a key (tables, arrays of tables, dotted and inline keys); a key
    inside an inline table points at the line of the table's key."""
    out: dict[str, int] = {}
    counts: dict[str, int] = {}
    current = ""
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        header = _HEADER_RE.match(s)
        if header:
            names = [x.strip() for x in header.group(2).split(".")]
            if header.group(1) == "[[":
                dotted = ".".join(names)
                counts[dotted] = counts.get(dotted, -1) + 1
                for k in [k for k in counts if k.startswith(dotted + ".")]:
                    del counts[k]   # a new entry starts its own sub-arrays
            parts = []
            for i, name in enumerate(names):
                dotted = ".".join(names[:i + 1])
                parts.append(f"{name}[{counts[dotted]}]" if dotted in counts else name)
            current = ".".join(parts)
            out.setdefault(current, n)
            continue
        key = _KEY_RE.match(s)
        if key:
            name = ".".join(x.strip() for x in key.group(1).split("."))
            out.setdefault(f"{current}.{name}" if current else name, n)
    return out


def line_of(text: str, dotted: str) -> int | None:
    """The line where a key (or, failing that, the table holding it) is set."""
    lines = key_lines(text)
    while dotted:
        if dotted in lines:
            return lines[dotted]
        dotted = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", dotted) if re.search(r"[.\[]", dotted) else ""
    return None


class _Problems:
    """Problems found in a folder, each as `file:line: key: what`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.items: list[str] = []
        self.texts: dict[Path, str] = {}
        self.data: dict[Path, dict[str, Any]] = {}

    def add(self, path: Path, key: str | None, what: str) -> None:
        where = str(path.relative_to(self.folder)) if path.is_relative_to(self.folder) else str(path)
        line = line_of(self.texts.get(path, ""), key) if key else None
        self.items.append(f"{where}{f':{line}' if line else ''}: {key + ': ' if key else ''}{what}")

    def read_toml(self, path: Path, required: bool) -> dict[str, Any]:
        """A file's TOML, read once: asked again, the same table (and no second problem)."""
        if path not in self.data:
            self.data[path] = self._read_toml(path, required)
        return self.data[path]

    def _read_toml(self, path: Path, required: bool) -> dict[str, Any]:
        if not path.is_file():
            if required:
                self.add(path, None, "missing")
            return {}
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            self.add(path, None, f"cannot be read ({type(e).__name__})")
            return {}
        self.texts[path] = text
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            self.items.append(f"{path.relative_to(self.folder)}:{getattr(e, 'lineno', '?')}: not valid TOML ({e})")
            return {}


def _texts(p: _Problems, path: Path, key: str, value: Any, required: bool = False) -> dict:
    """A text in every language: a table of the seven language keys (ja at least)."""
    if value is None:
        if required:
            p.add(path, key, "is required (a table with ja, en, zh, ko, vi, pt, ja-easy)")
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        p.add(path, key, "must be a table of texts by language")
        return {}
    unknown = set(value) - set(LANGS)
    if unknown:
        p.add(path, key, f"unknown languages {sorted(unknown)} (use {', '.join(LANGS)})")
    if "ja" not in value:
        p.add(path, key, "needs at least the Japanese text (ja)")
    return dict(value)


def _known_keys(p: _Problems, path: Path, where: str, table: dict, known: set[str]) -> None:
    for k in sorted(set(table) - known):
        p.add(path, f"{where}.{k}" if where else k, f"is not a known key (known: {', '.join(sorted(known))})")


def _read(folder: Path, p: _Problems | None = None) -> tuple[Site, list[str]]:
    folder = folder.resolve()
    p = p or _Problems(folder)
    if not folder.is_dir():
        return NO_SITE, [f"{folder}: not a folder"]
    site_file, offices_file = folder / "site.toml", folder / "offices.toml"
    raw = p.read_toml(site_file, required=True)
    _known_keys(p, site_file, "", raw, {"municipality", "branding", "privacy", "procedures"})
    mun = raw.get("municipality", {}) if isinstance(raw.get("municipality", {}), dict) else {}
    if site_file in p.texts and not mun:
        p.add(site_file, "municipality", "is required: [municipality] with name, code and addressee")
    _known_keys(p, site_file, "municipality", mun, {"name", "code", "addressee"})
    name = _texts(p, site_file, "municipality.name", mun.get("name"), required=bool(mun))
    code = mun.get("code", "")
    if mun and not (isinstance(code, str) and is_lgu_code(code)):
        p.add(site_file, "municipality.code", "must be the 6-digit 地方公共団体コード with its check digit, as text")
        code = ""
    addressee = _texts(p, site_file, "municipality.addressee", mun.get("addressee"), required=bool(mun))

    branding = raw.get("branding", {}) if isinstance(raw.get("branding", {}), dict) else {}
    _known_keys(p, site_file, "branding", branding, {"logo", "primary_colour", "accent_colour"})
    logo = None
    if "logo" in branding:
        logo_path = (folder / str(branding["logo"])).resolve()
        if not logo_path.is_relative_to(folder):
            p.add(site_file, "branding.logo", "must be a file inside the site folder")
        elif logo_path.suffix.lower() not in LOGO_TYPES:
            p.add(site_file, "branding.logo", f"must be one of {', '.join(LOGO_TYPES)}")
        elif not logo_path.is_file():
            p.add(site_file, "branding.logo", f"file {branding['logo']} not found")
        elif logo_path.stat().st_size > MAX_LOGO_BYTES:
            p.add(site_file, "branding.logo", f"is larger than {MAX_LOGO_BYTES // 1024} KB")
        else:
            logo = logo_path
    colours = {}
    for key in ("primary_colour", "accent_colour"):
        if key in branding:
            if isinstance(branding[key], str) and _COLOUR_RE.match(branding[key]):
                colours[key.removesuffix("_colour")] = branding[key].lower()
            else:
                p.add(site_file, f"branding.{key}", 'must be a colour like "#1d4f91"')

    privacy = raw.get("privacy", {}) if isinstance(raw.get("privacy", {}), dict) else {}
    _known_keys(p, site_file, "privacy", privacy, {"notice"})
    notice = _texts(p, site_file, "privacy.notice", privacy.get("notice"))

    procs = raw.get("procedures", {}) if isinstance(raw.get("procedures", {}), dict) else {}
    _known_keys(p, site_file, "procedures", procs, {"disabled"})
    disabled = procs.get("disabled", [])
    if not isinstance(disabled, list) or not all(isinstance(x, str) for x in disabled):
        p.add(site_file, "procedures.disabled", "must be a list of procedure ids")
        disabled = []

    offices = _read_offices(p, offices_file)
    site = Site(folder=folder, name=name, code=code, addressee=addressee, logo=logo, colours=colours,
                privacy_notice=notice, disabled=tuple(disabled), offices=tuple(offices))
    return site, p.items


def _unique_id(p: _Problems, path: Path, where: str, value: Any, seen: set[str], like: str,
               others: str) -> str | None:
    """An entry's id: well formed and not taken by another entry (None, and a problem, if not)."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        p.add(path, f"{where}.id", f"must be an id of small letters, digits and _ (like {like})")
        return None
    if value in seen:
        p.add(path, f"{where}.id", f"{value} is used by {others}")
    seen.add(value)
    return value


def _read_offices(p: _Problems, path: Path) -> list[Office]:
    raw = p.read_toml(path, required=False)
    _known_keys(p, path, "", raw, {"offices"})
    offices: list[Office] = []
    seen_offices: set[str] = set()
    entries = raw.get("offices", [])
    if not isinstance(entries, list):
        p.add(path, "offices", "must be [[offices]] tables")
        return []
    for i, o in enumerate(entries):
        where = f"offices[{i}]"
        if not isinstance(o, dict):
            p.add(path, where, "must be a table")
            continue
        _known_keys(p, path, where, o, {"id", "name", "address", "hours", "sections"})
        oid = _unique_id(p, path, where, o.get("id"), seen_offices, "honcho", "another office") or f"office{i}"
        sections: list[Section] = []
        seen_sections: set[str] = set()
        for j, s in enumerate(o.get("sections", []) if isinstance(o.get("sections", []), list) else []):
            swhere = f"{where}.sections[{j}]"
            if not isinstance(s, dict):
                p.add(path, swhere, "must be a table")
                continue
            _known_keys(p, path, swhere, s, {"id", "name", "floor", "window", "hours", "procedures"})
            sid = _unique_id(p, path, swhere, s.get("id"), seen_sections, "shimin",
                             "another section of this office") or f"section{j}"
            procedures = s.get("procedures", [])
            if not isinstance(procedures, list) or not all(isinstance(x, str) for x in procedures):
                p.add(path, f"{swhere}.procedures", "must be a list of procedure ids")
                procedures = []
            sections.append(Section(
                id=sid, name=_texts(p, path, f"{swhere}.name", s.get("name"), required=True),
                floor=str(s.get("floor", "")), window=str(s.get("window", "")),
                hours=_texts(p, path, f"{swhere}.hours", s.get("hours")), procedures=tuple(procedures)))
        offices.append(Office(id=oid, name=_texts(p, path, f"{where}.name", o.get("name"), required=True),
                              address=str(o.get("address", "")), hours=_texts(p, path, f"{where}.hours",
                                                                               o.get("hours")),
                              sections=tuple(sections)))
    return offices


def load_site(folder: str | Path | None) -> Site:
    """The site of a folder, checked (SiteError lists the problems); NO_SITE for no folder."""
    if not folder:
        return NO_SITE
    site, problems = _read(Path(folder))
    if problems:   # at start, say which folder: `site check` shows the names relative to it
        base = Path(folder).resolve()
        raise SiteError([m if m.startswith(str(base)) else f"{base}/{m}" for m in problems])
    return site


# --- checking a whole folder (`madoguchi site check`) -----------------------------------------

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def schema(name: str) -> dict:
    """A published JSON Schema: procedure, layout, site or offices (core/schemas/<name>.schema.json)."""
    import json
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8"))


def _path_text(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_problems(path: Path, data: dict, schema_name: str, text: str, shown_as: str) -> list[str]:
    """Each way `data` (read from `path`) breaks a schema, as `file:line: key: what`."""
    from jsonschema import Draft202012Validator

    out = []
    for e in sorted(Draft202012Validator(schema(schema_name)).iter_errors(data), key=lambda e: list(e.path)):
        key = _path_text(e.absolute_path)
        line = line_of(text, key) if key else None
        out.append(f"{shown_as}{f':{line}' if line else ''}: {key + ': ' if key else ''}{e.message}")
    return out


NEW_PROCEDURE_KEYS = ("form_title", "names", "description", "section", "person_fields")


def check_site(folder: str | Path) -> list[str]:
    """Every problem of a site folder: its files against their schemas and rules, its procedures
    as the catalogue resolves them, the offices' procedure ids, and every form layout (loaded,
    and checked for fields off the page or over each other). An empty list: the folder is good."""
    from core.catalogue import BUILTIN_DIR, NON_PROCEDURE_FILES, CatalogueError, load_catalogue

    folder = Path(folder).resolve()
    p = _Problems(folder)
    site, read_problems = _read(folder, p)
    if not folder.is_dir():
        return read_problems
    problems: list[str] = []   # the schema's words; our own rules' (p.items) come first below
    for name, schema_name in (("site.toml", "site"), ("offices.toml", "offices")):
        data = p.read_toml(folder / name, required=False)   # read already by _read
        if data:
            problems += schema_problems(folder / name, data, schema_name, p.texts[folder / name], name)
    builtin = {path.stem for path in BUILTIN_DIR.glob("*.toml")} - set(NON_PROCEDURE_FILES)
    procedures_dir = folder / "procedures"
    own = [path for path in sorted(procedures_dir.glob("*.toml")) if path.stem not in NON_PROCEDURE_FILES] \
        if procedures_dir.is_dir() else []
    for path in own:
        shown = f"procedures/{path.name}"
        data = p.read_toml(path, required=True)
        if not data:
            continue
        problems += schema_problems(path, data, "procedure", p.texts[path], shown)
        if path.stem not in builtin:
            for key in NEW_PROCEDURE_KEYS:
                if key not in data:
                    problems.append(f"{shown}: {key}: is required for a procedure of the city's own")
    problems = p.items + problems
    # One message per key: our own rules' words first, the schema's only for what they missed.
    seen: set[str] = set()
    unique = []
    for message in problems:
        where = ": ".join(message.split(": ")[:2])
        if where not in seen:
            seen.add(where)
            unique.append(message)
    problems = unique
    if problems:
        return problems   # the catalogue and layouts are checked once the files themselves are good
    try:
        catalogue = load_catalogue([procedures_dir] if procedures_dir.is_dir() else [], site.disabled)
    except CatalogueError as e:
        return [str(e).replace(str(folder) + "/", "")]
    text = p.texts.get(folder / "offices.toml", "")
    for i, office in enumerate(site.offices):
        for j, section in enumerate(office.sections):
            for k, pid in enumerate(section.procedures):
                if pid not in catalogue.procedures:
                    line = line_of(text, f"offices[{i}].sections[{j}].procedures")
                    why = "is switched off" if pid in site.disabled else "is not a procedure of the catalogue"
                    problems.append(f"offices.toml:{line}: offices[{i}].sections[{j}].procedures[{k}]: {pid} {why}")
    problems += _layout_problems(site, catalogue)
    return problems


def _layout_problems(site: Site, catalogue) -> list[str]:
    """Every layout the site's catalogue prints with: the site's layout files against the
    published schema, then each layout read and checked (printing.layout.layout_problems:
    parse errors with their line, fields off the page or over each other, the background)."""
    import tomllib as toml

    from printing.layout import layout_path, layout_problems

    out: list[str] = []
    previous = current_site()
    activate(site)   # layouts resolve against the folder being checked
    try:
        layouts = site.layouts_dir
        for path in sorted(layouts.glob("*.toml")) if layouts and layouts.is_dir() else []:
            shown = f"procedures/layouts/{path.name}"
            if path.stem not in catalogue.procedures:
                out.append(f"{shown}: no procedure {path.stem} in the catalogue")
                continue
            try:
                text = path.read_text("utf-8")
                out += schema_problems(path, toml.loads(text), "layout", text, shown)
            except (OSError, UnicodeDecodeError, toml.TOMLDecodeError) as e:
                out.append(f"{shown}: cannot be read as TOML in UTF-8 ({type(e).__name__})")
        if out:
            return out
        for pid in sorted(catalogue.procedures):
            from printing.errors import LayoutError
            try:
                path = layout_path(catalogue.get(pid))
            except LayoutError as e:
                out.append(str(e).replace(str(site.folder) + "/", ""))
                continue
            out += [m.replace(str(site.folder) + "/", "") for m in layout_problems(path, catalogue)]
    finally:
        activate(previous)
    return out


# --- the active site -------------------------------------------------------------------------

_active = NO_SITE
_lock = threading.Lock()


def activate(site: Site) -> None:
    """Make `site` the one this process uses (the app factory and the CLI call it at start)."""
    global _active
    with _lock:
        _active = site


def current_site() -> Site:
    return _active


def site_folder(config) -> Path | None:
    """The folder `[site].folder` names: a relative path is taken from the config file's own
    folder (a city keeps the two side by side; the repo's config.toml names sites/demo)."""
    if not config.site.folder:
        return None
    folder = Path(config.site.folder)
    if folder.is_absolute():
        return folder
    base = Path(config.source).resolve().parent if config.source else config.base_dir
    return base / folder


def site_for(config) -> Site:
    """The site `config` names, loaded and checked (SiteError names the file, line and key)."""
    return load_site(site_folder(config))
