"""The procedure catalogue, loaded from data files (see core/procedures/README.md)."""
from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.config import LANGUAGE_CODES
from core.errors import MadoguchiError, NotFound
from core.navigator import Navigator, NavigatorError, load_navigator

BUILTIN_DIR = Path(__file__).resolve().parent / "procedures"
FIELD_TYPES = {"text", "kana", "date", "postal_code", "address", "phone", "number", "choice", "checkbox", "household"}
# The parts a name may be asked in (`parts` on a text or kana field), in the order they are joined.
NAME_PARTS = ("family", "given")
PERSON_FIELD_NAMES = ("name", "kana", "birth_date", "sex", "postal_code", "address", "phone", "household",
                      "relationship_to_head")
# A household member's answers a procedure may ask beside the name, kana, birth date, sex and
# relationship (its `household_questions`): defined with the person fields.
MEMBER_QUESTIONS = ("lives_apart",)
# What a text field's answer is typed as, for the keyboards (`input` on a field): digits only
# (a card's number), Latin capitals and digits (a 在留カード番号), or any text.
INPUTS = ("digits", "latin", "text")
FALLBACK_LANGUAGE = "ja"
# Files of a catalogue folder that are not procedures.
NON_PROCEDURE_FILES = ("person_fields", "life_events", "navigator", "things_to_bring")


class CatalogueError(MadoguchiError):
    code = "catalogue_invalid"


def text_in(table: dict[str, Any] | None, lang: str) -> Any:
    """Pick a language from a text table, falling back to Japanese (ja-easy → ja too)."""
    if not table:
        return ""
    return table.get(lang) or table.get(FALLBACK_LANGUAGE) or next(iter(table.values()))


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    required: bool = False
    label: dict = field(default_factory=dict)
    question: dict = field(default_factory=dict)
    hint: dict = field(default_factory=dict)
    choices: tuple[str, ...] = ()
    choice_labels: dict = field(default_factory=dict)
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    default: Any = None
    when: dict | None = None
    pattern: str | None = None       # text only: the whole value must match (after full-width → ASCII)
    example: str | None = None       # an example of that format, for the message (AB12345678CD)
    upper: bool = False              # text only: stored in capitals (a 在留カード番号)
    past_only: bool | dict = False   # a date that cannot be after today: always (a birth date), or
                                     # when another answer is one of some values ({field, in}: 転入日)
    late_after: dict | None = None   # {days, field?, in?}: a date longer ago is accepted with a notice
                                     # (a 転入届 past its 14 days: the visitor may be asked why)
    input: str | None = None         # text: what is typed (INPUTS): a number pad for a card's number
    parts: tuple[str, ...] = ()      # text/kana: asked as 姓 and 名 (NAME_PARTS), stored joined by a space
    part_labels: dict = field(default_factory=dict)   # each part's label, a language table per part

    def must_be_past(self, values: Mapping[str, Any] | None) -> bool:
        """Whether this date may not be after today, given the other answers (None: not known yet)."""
        if isinstance(self.past_only, dict):
            return values is not None and values.get(self.past_only["field"]) in self.past_only["in"]
        return bool(self.past_only)

    def late_days(self, values: Mapping[str, Any]) -> int | None:
        """The days after which this date earns a lateness notice, given the other answers."""
        rule = self.late_after
        if not rule or ("field" in rule and values.get(rule["field"]) not in rule["in"]):
            return None
        return int(rule["days"])

    def applies(self, values: dict[str, Any]) -> bool:
        """Whether this field is asked, given the other answers (its `when` condition)."""
        if not self.when:
            return True
        return values.get(self.when["field"]) in self.when["in"]

    def label_in(self, lang: str) -> str:
        return text_in(self.label, lang)

    def question_in(self, lang: str) -> str:
        return text_in(self.question, lang) or self.label_in(lang)

    def choice_label(self, value: str, lang: str) -> str:
        return text_in(self.choice_labels.get(value), lang) or value

    def part_label(self, part: str, lang: str) -> str:
        return text_in(self.part_labels.get(part), lang) or part


@dataclass(frozen=True)
class Procedure:
    id: str
    names: dict
    form_title: dict
    description: dict
    section: dict
    what_to_bring: dict
    life_events: tuple[str, ...]
    person_fields: tuple[str, ...]
    card_fills: tuple[str, ...]
    needs_individual_number: bool
    fee: int
    fields: tuple[FieldDef, ...]
    source: Path
    household_questions: tuple[str, ...] = ()   # MEMBER_QUESTIONS asked of each household member
    card_offers: dict = field(default_factory=dict)   # own field → the card's field offered as its answer
    id_documents: int = 1                  # 本人確認: documents the clerk checks before confirming
    id_documents_with_photo: int = 1       # …when one of them is a photo ID (My Number card, licence…)
    affair: dict = field(default_factory=dict)   # 事務: the affair its data is used under (the exchange log's 事務)

    def name(self, lang: str = "ja") -> str:
        return text_in(self.names, lang)

    def title(self, lang: str = "ja") -> str:
        return text_in(self.form_title, lang) or self.name(lang)


@dataclass(frozen=True)
class LifeEvent:
    id: str
    names: dict
    description: dict
    procedures: tuple[str, ...]
    required: tuple[str, ...]
    presets: dict

    def name(self, lang: str = "ja") -> str:
        return text_in(self.names, lang)


def _id_document_count(raw: dict, key: str, path, default: int) -> int:
    """How many identity documents a procedure needs: 1 or 2."""
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value not in (1, 2):
        raise CatalogueError(f"{path}: {key} is 1 or 2")
    return value


def _field(raw: dict, where: str) -> FieldDef:
    name = raw.get("name")
    ftype = raw.get("type")
    if not name or ftype not in FIELD_TYPES:
        raise CatalogueError(f"{where}: field {name!r} needs a name and a type among {sorted(FIELD_TYPES)}")
    choices = tuple(raw.get("choices", ()))
    if ftype == "choice":
        if not choices:
            raise CatalogueError(f"{where}: choice field {name} has no choices")
        missing = [c for c in choices if c not in raw.get("choice_labels", {})]
        if missing:
            raise CatalogueError(f"{where}: choice field {name} has no labels for {missing}")
    when = raw.get("when")
    if when is not None:
        if not isinstance(when, dict) or "field" not in when or "in" not in when:
            raise CatalogueError(f"{where}: field {name}: `when` needs `field` and `in`")
        when = {"field": when["field"], "in": list(when["in"])}
    known = {"name", "type", "required", "label", "question", "hint", "choices", "choice_labels",
             "min", "max", "max_length", "default", "when", "past_only", "late_after", "pattern", "example", "upper",
             "parts", "part_labels", "input"}
    unknown = set(raw) - known
    if unknown:
        raise CatalogueError(f"{where}: field {name}: unknown keys {sorted(unknown)}")
    return FieldDef(
        name=name, type=ftype, required=bool(raw.get("required", False)),
        label=raw.get("label", {}), question=raw.get("question", {}), hint=raw.get("hint", {}),
        choices=choices, choice_labels=raw.get("choice_labels", {}),
        min=raw.get("min"), max=raw.get("max"), max_length=raw.get("max_length"),
        default=raw.get("default"), when=when, past_only=_past_only(raw.get("past_only", False), where, name),
        late_after=_late_after(raw.get("late_after"), where, name),
        pattern=_pattern(raw.get("pattern"), where, name), example=raw.get("example"), upper=bool(raw.get("upper")),
        parts=_parts(raw, where, name), part_labels=raw.get("part_labels", {}),
        input=_input(raw.get("input"), ftype, where, name),
    )


def _parts(raw: dict, where: str, name: str) -> tuple[str, ...]:
    parts = raw.get("parts")
    if parts is None:
        if "part_labels" in raw:
            raise CatalogueError(f"{where}: field {name}: `part_labels` without `parts`")
        return ()
    if raw.get("type") not in ("text", "kana") or raw.get("pattern"):
        raise CatalogueError(f"{where}: field {name}: only a text or kana field without a pattern has `parts`")
    if parts != list(NAME_PARTS):
        raise CatalogueError(f"{where}: field {name}: `parts` must be {list(NAME_PARTS)}")
    labels = raw.get("part_labels")
    if not isinstance(labels, dict) or set(labels) != set(NAME_PARTS):
        raise CatalogueError(f"{where}: field {name}: `part_labels` needs a label for each of {list(NAME_PARTS)}")
    for part, table in labels.items():
        if not isinstance(table, dict) or not table:
            raise CatalogueError(f"{where}: field {name}: part label {part} must be a language table")
        _check_languages(table, f"{where}: field {name}: part label {part}")
    return tuple(parts)


def _pattern(value: Any, where: str, name: str) -> str | None:
    if value is None:
        return None
    import re
    try:
        re.compile(value)
    except (re.error, TypeError):
        raise CatalogueError(f"{where}: field {name}: `pattern` is not a regular expression") from None
    return value


def _past_only(value: Any, where: str, name: str) -> bool | dict:
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and set(value) == {"field", "in"} and isinstance(value["in"], list):
        return {"field": value["field"], "in": list(value["in"])}
    raise CatalogueError(f"{where}: field {name}: `past_only` is true, false or {{ field = …, in = [...] }}")


CARD_FIELDS = ("name", "kana", "address", "birth_date")


def _card_offers(value: Any, raw: dict, path: Path) -> dict[str, str]:
    """`card_offers = { previous_address = "address" }`: a question the ID card's value is offered
    for (the card still shows the address before a move), to be checked by the visitor."""
    own = {f.get("name"): f.get("type") for f in raw.get("fields", [])}
    if not isinstance(value, dict) or any(own.get(k) not in ("text", "address", "kana", "date") or v not in CARD_FIELDS
                                          for k, v in value.items()):
        raise CatalogueError(f"{path}: card_offers maps the procedure's own fields to a card field"
                             f" ({', '.join(CARD_FIELDS)})")
    return dict(value)


def _input(value: Any, ftype: str, where: str, name: str) -> str | None:
    if value is None:
        return None
    if ftype != "text" or value not in INPUTS:
        raise CatalogueError(f"{where}: field {name}: `input` is for a text field: one of {', '.join(INPUTS)}")
    return value


def _late_after(value: Any, where: str, name: str) -> dict | None:
    if value is None:
        return None
    if (isinstance(value, dict) and isinstance(value.get("days"), int) and value["days"] > 0
            and set(value) in ({"days"}, {"days", "field", "in"})
            and (set(value) == {"days"} or isinstance(value["in"], list))):
        return {k: (list(v) if k == "in" else v) for k, v in value.items()}
    raise CatalogueError(f"{where}: field {name}: `late_after` is {{ days = 14 }}"
                         " or {{ days = 14, field = …, in = [...] }}")


def _check_languages(table: Any, where: str) -> None:
    if isinstance(table, dict) and table and set(table) - set(LANGUAGE_CODES):
        raise CatalogueError(f"{where}: unknown language keys {sorted(set(table) - set(LANGUAGE_CODES))}")


class Catalogue:
    def __init__(self, procedures: dict[str, Procedure], life_events: dict[str, LifeEvent],
                 person_fields: dict[str, FieldDef], relationships: dict[str, dict]):
        self.procedures = procedures
        self.life_events = life_events
        self.person_fields = person_fields
        self.relationships = relationships
        self.version = ""   # set by load_catalogue: a hash of the files it was made from
        self.navigator = Navigator({}, {})   # 手続きナビ's rules (core.navigator), set by load_catalogue
        # What a clerk may ask a resident to bring after a rejection: code → words per language
        # (things_to_bring.toml; a site's file adds codes or rewords them).
        self.things_to_bring: dict[str, dict[str, str]] = {}
        self._own_fields: dict[str, FieldDef] = {}
        for proc in procedures.values():
            for f in proc.fields:
                prev = self._own_fields.get(f.name)
                if f.name in person_fields:
                    raise CatalogueError(f"{proc.source}: field {f.name} shadows a common person field")
                if prev is not None and (prev.type, prev.choices) != (f.type, f.choices):
                    raise CatalogueError(f"{proc.source}: field {f.name} is defined differently elsewhere")
                self._own_fields.setdefault(f.name, f)
        for ev in life_events.values():
            for pid in ev.procedures + ev.required:
                if pid not in procedures:
                    raise CatalogueError(f"life event {ev.id}: unknown procedure {pid}")

    def get(self, procedure_id: str) -> Procedure:
        try:
            return self.procedures[procedure_id]
        except KeyError:
            raise NotFound(f"unknown procedure: {procedure_id}", code="unknown_procedure") from None

    def event(self, event_id: str) -> LifeEvent:
        try:
            return self.life_events[event_id]
        except KeyError:
            raise NotFound(f"unknown life event: {event_id}", code="unknown_life_event") from None

    def field(self, name: str) -> FieldDef:
        return self.person_fields.get(name) or self._own_fields[name]

    def known_field(self, name: str) -> bool:
        return name in self.person_fields or name in self._own_fields

    def member_questions(self, procedure_ids: list[str] | tuple[str, ...]) -> list[FieldDef]:
        """The extra questions about each household member these procedures ask (同居・別居)."""
        wanted = {q for pid in procedure_ids if pid in self.procedures
                  for q in self.procedures[pid].household_questions}
        return [self.person_fields[q] for q in MEMBER_QUESTIONS if q in wanted]

    def fields_for(self, procedure_ids: list[str] | tuple[str, ...]) -> list[FieldDef]:
        """Every field the given procedures need, person fields first, each once, in catalogue order."""
        procs = [self.get(pid) for pid in procedure_ids]
        wanted = {n for p in procs for n in p.person_fields}
        out = [self.person_fields[n] for n in PERSON_FIELD_NAMES if n in wanted]
        seen = set()
        for p in procs:
            for f in p.fields:
                if f.name not in seen:
                    seen.add(f.name)
                    out.append(f)
        return out

    def card_fills(self, procedure_ids) -> set[str]:
        return {n for pid in procedure_ids for n in self.get(pid).card_fills}


def load_catalogue(dirs: list[Path] | None = None, disabled: tuple[str, ...] = ()) -> Catalogue:
    """The built-in catalogue, then each city directory's files on top of it.

    A city file of a new id adds a procedure; one of a built-in's id overrides it: the keys it
    sets replace the built-in's (`fields` as a whole list), the others stay. `disabled`
    switches built-in procedures off (they leave the life events too). `version` is a hash of
    every file that made the result, so a record can name the catalogue it was made with."""
    import hashlib

    digest = hashlib.sha256()
    raws: dict[str, tuple[dict, Path]] = {}
    person_path = events_path = None
    navigator_files: list[Path] = []
    things_to_bring: dict[str, dict[str, str]] = {}
    for d in [BUILTIN_DIR, *(dirs or [])]:
        for path in sorted(Path(d).glob("*.toml")):
            data = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + data + b"\0")
            if path.name == "person_fields.toml":
                person_path = path
                continue
            if path.name == "life_events.toml":
                events_path = path
                continue
            if path.name == "navigator.toml":
                navigator_files.append(path)
                continue
            if path.name == "things_to_bring.toml":
                things_to_bring.update(_things_to_bring(path))
                continue
            try:
                raw = tomllib.loads(data.decode("utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
                raise CatalogueError(f"{path}: not valid TOML: {e}") from None
            if raw.get("id") != path.stem:
                raise CatalogueError(f"{path}: id must equal the file name ({path.stem})")
            base = raws.get(path.stem)
            raws[path.stem] = ({**base[0], **raw} if base else raw, path)
        layouts = Path(d) / "layouts"
        for path in sorted(layouts.glob("*.toml")) if layouts.is_dir() else []:
            digest.update(b"layouts/" + path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    if person_path is None or events_path is None:
        raise CatalogueError("catalogue file missing: " + ("person_fields.toml" if person_path is None
                                                           else "life_events.toml"))
    unknown_off = [pid for pid in disabled if pid not in raws]
    if unknown_off:
        raise CatalogueError(f"cannot switch off unknown procedures {unknown_off}")
    person = tomllib.loads(person_path.read_text("utf-8"))
    events_raw = tomllib.loads(events_path.read_text("utf-8"))
    person_fields = {}
    for raw in person.get("fields", []):
        f = _field(raw, "person_fields.toml")
        person_fields[f.name] = f
    procedures: dict[str, Procedure] = {}
    for pid, (raw, path) in raws.items():
        if pid in disabled:
            continue
        for key in ("names", "form_title", "description", "section"):
            _check_languages(raw.get(key), f"{path}: {key}")
        if "affair" in raw:
            _check_languages(raw["affair"], f"{path}: affair")
        bad = set(raw.get("person_fields", ())) - set(PERSON_FIELD_NAMES)
        if bad:
            raise CatalogueError(f"{path}: unknown person_fields {sorted(bad)}")
        bad = set(raw.get("household_questions", ())) - set(MEMBER_QUESTIONS)
        if bad:
            raise CatalogueError(f"{path}: unknown household_questions {sorted(bad)}"
                                 f" (known: {', '.join(MEMBER_QUESTIONS)})")
        id_documents = _id_document_count(raw, "id_documents", path, 1)
        procedures[pid] = Procedure(
            id=pid, names=raw.get("names", {}), form_title=raw.get("form_title", {}),
            description=raw.get("description", {}), section=raw.get("section", {}),
            what_to_bring=raw.get("what_to_bring", {}), life_events=tuple(raw.get("life_events", ())),
            person_fields=tuple(raw.get("person_fields", ())), card_fills=tuple(raw.get("card_fills", ())),
            needs_individual_number=bool(raw.get("needs_individual_number", False)),
            fee=int(raw.get("fee", 0)),
            fields=tuple(_field(f, str(path)) for f in raw.get("fields", [])), source=path,
            household_questions=tuple(raw.get("household_questions", ())),
            card_offers=_card_offers(raw.get("card_offers", {}), raw, path),
            id_documents=id_documents,
            id_documents_with_photo=_id_document_count(raw, "id_documents_with_photo", path, id_documents),
            affair=raw.get("affair", {}),
        )
    life_events = {}
    for raw in events_raw.get("events", []):
        ev = LifeEvent(
            id=raw["id"], names=raw.get("names", {}), description=raw.get("description", {}),
            # a city's own procedure joins the events it names in its `life_events`
            procedures=tuple(dict.fromkeys(
                [p for p in raw.get("procedures", ()) if p not in disabled]
                + [pid for pid, proc in procedures.items() if raw["id"] in proc.life_events])),
            required=tuple(p for p in raw.get("required", ()) if p not in disabled),
            presets=dict(raw.get("presets", {})),
        )
        if ev.procedures:   # an event whose procedures are all switched off is not offered
            life_events[ev.id] = ev
    catalogue = Catalogue(procedures, life_events, person_fields, person.get("relationships", {}))
    catalogue.version = digest.hexdigest()[:16]
    catalogue.things_to_bring = things_to_bring
    try:
        catalogue.navigator = load_navigator(navigator_files, set(procedures), set(life_events), set(disabled))
    except NavigatorError as e:
        raise CatalogueError(str(e)) from None
    return catalogue


def _things_to_bring(path: Path) -> dict[str, dict[str, str]]:
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CatalogueError(f"{path}: not valid TOML: {e}") from None
    out = {}
    for item in raw.get("items", []):
        code = item.get("code")
        if not isinstance(code, str) or not code.isidentifier() or len(code) > 40:
            raise CatalogueError(f"{path}: each item needs a code (letters, digits, _)")
        _check_languages(item.get("names"), f"{path}: {code}")
        out[code] = dict(item.get("names") or {})
    return out


@lru_cache(maxsize=8)
def _cached(dirs: tuple[str, ...], disabled: tuple[str, ...]) -> Catalogue:
    return load_catalogue([Path(d) for d in dirs], disabled)


def forget_loaded_catalogues() -> None:
    """After a city's file changed while serving (the layout editor saved one): load again."""
    _cached.cache_clear()


def get_catalogue() -> Catalogue:
    """The catalogue of this process's site (core.site.activate): the built-in procedures and
    the city's own, loaded once (the files are data, not state)."""
    from core.site import current_site

    site = current_site()
    folder = site.procedures_dir
    return _cached((str(folder),) if folder and folder.is_dir() else (), site.disabled)
