"""Field types of a form layout. One class per `type`, each knowing how to print its value
(`draw`) and how its blank part looks on a background we draw ourselves (`frame`).

Both use the same geometry, so a value always lands in the boxes drawn for it. Positions
and sizes are in millimetres from the page's top-left corner; font sizes in points.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jaconv

from core.application import form_code
from core.catalogue import Catalogue, FieldDef, Procedure
from core.forms import head_name, relationship_to_person
from core.japanese import ERAS, format_postal_code, format_wareki, to_wareki, wareki_parts
from core.site import Site, current_site
from printing import fonts
from printing.errors import LayoutError, MalformedValue
from printing.pen import PT, Box, Pen

# Sources that are not the application's: the day, its id, and the municipality the form goes
# to (the active site's name and addressee in Japanese; empty, so nothing prints, without a site).
SPECIAL_SOURCES = {"@today": "date", "@application_id": "text", "@municipality": "text", "@addressee": "text",
                   "@head_of_household": "text", "@relationship_to_head": "text",
                   # the kiosk's slip (受付票, printing/reception_slip.toml): Ctx.slip's values
                   "@reception_number": "text", "@procedure_names": "text", "@printed_at": "text"}
SLIP_SOURCES = ("@reception_number", "@procedure_names", "@printed_at")
LABEL_STYLE = "gothic"


@dataclass
class Ctx:
    """What a field needs while printing: the checked values and where they came from."""

    catalogue: Catalogue
    procedure: Procedure
    values: dict[str, Any]
    application_id: str | None
    today: date
    style: str = "mincho"
    site: Site = field(default_factory=current_site)
    # The slip's own values (printing.render.reception_slip): reception_number, procedure_names,
    # printed_at, status_url. Empty on a form.
    slip: dict[str, str] = field(default_factory=dict)

    def field_def(self, name: str) -> FieldDef | None:
        return None if name.startswith("@") else self.catalogue.field(name)


class Spec:
    """Typed access to one layout entry; unknown keys and wrong types are LayoutErrors."""

    def __init__(self, raw: dict, where: str, allowed: set[str]):
        unknown = set(raw) - allowed
        if unknown:
            raise LayoutError(f"{where}: unknown keys {sorted(unknown)}")
        self.raw = raw
        self.where = where

    def num(self, key, default=...):
        v = self.raw.get(key, default)
        if v is ...:
            raise LayoutError(f"{self.where}: `{key}` is required")
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise LayoutError(f"{self.where}: `{key}` must be a number")
        return float(v) if v is not None else None

    def int(self, key, default=...):
        v = self.raw.get(key, default)
        if v is ...:
            raise LayoutError(f"{self.where}: `{key}` is required")
        if isinstance(v, bool) or not isinstance(v, int):
            raise LayoutError(f"{self.where}: `{key}` must be a whole number")
        return v

    def str(self, key, default=..., choices=None):
        v = self.raw.get(key, default)
        if v is ...:
            raise LayoutError(f"{self.where}: `{key}` is required")
        if v is not None and not isinstance(v, str):
            raise LayoutError(f"{self.where}: `{key}` must be text")
        if choices and v is not None and v not in choices:
            raise LayoutError(f"{self.where}: `{key}` must be one of {', '.join(choices)}")
        return v

    def bool(self, key, default=False):
        v = self.raw.get(key, default)
        if not isinstance(v, bool):
            raise LayoutError(f"{self.where}: `{key}` must be true or false")
        return v

    def list(self, key, default=...):
        v = self.raw.get(key, default)
        if v is ...:
            raise LayoutError(f"{self.where}: `{key}` is required")
        if not isinstance(v, list):
            raise LayoutError(f"{self.where}: `{key}` must be a list")
        return v

    def table(self, key, default=...):
        v = self.raw.get(key, default)
        if v is ...:
            raise LayoutError(f"{self.where}: `{key}` is required")
        if not isinstance(v, dict):
            raise LayoutError(f"{self.where}: `{key}` must be a table")
        return v


COMMON = {"type", "source", "x", "y", "w", "h", "font", "size", "min_size", "align", "valign", "pad"}


class Field:
    type = ""
    keys: set[str] = set()
    source_types: set[str] | None = None     # catalogue field types this field can print
    default_size = 11.0

    def __init__(self, raw: dict, where: str, procedure: Procedure, catalogue: Catalogue, style: str):
        spec = Spec(raw, where, COMMON | self.keys)
        self.spec = spec
        self.where = where
        self.source = spec.str("source", None)
        self.x, self.y = spec.num("x"), spec.num("y")
        self.w, self.h = spec.num("w", 0.0), spec.num("h", 0.0)
        self.style = spec.str("font", style, choices=tuple(fonts.STYLES))
        self.size = spec.num("size", self.default_size)
        self.min_size = spec.num("min_size", min(6.0, self.size))
        self.align = spec.str("align", "left", choices=("left", "center", "right"))
        self.valign = spec.str("valign", "middle", choices=("top", "middle", "bottom"))
        self.pad = spec.num("pad", 1.0)
        self.field_def: FieldDef | None = None
        if self.source is not None:
            self._check_source(procedure, catalogue)
        self.parse(spec, procedure, catalogue)

    def _check_source(self, procedure: Procedure, catalogue: Catalogue) -> None:
        if self.source.startswith("@"):
            if self.source not in SPECIAL_SOURCES:
                raise LayoutError(f"{self.where}: unknown source {self.source} (known: {', '.join(SPECIAL_SOURCES)})")
            kind = SPECIAL_SOURCES[self.source]
        else:
            names = {f.name: f for f in catalogue.fields_for([procedure.id])}
            if self.source not in names:
                raise LayoutError(f"{self.where}: source {self.source} is not a field of procedure {procedure.id}")
            self.field_def = names[self.source]
            kind = self.field_def.type
        if self.source_types is not None and kind not in self.source_types:
            raise LayoutError(f"{self.where}: a {self.type} field cannot print {self.source} ({kind})")

    def parse(self, spec: Spec, procedure: Procedure, catalogue: Catalogue) -> None:
        """Read the keys of this type."""

    @property
    def box(self) -> Box:
        return Box(self.x, self.y, self.w, self.h)

    @property
    def name(self) -> str:
        return self.source or self.type

    def extent(self) -> list[Box]:
        """Where the field prints on the page, its frame's labels included (for the layout checks)."""
        return [self.box]

    def value(self, ctx: Ctx) -> Any:
        if self.source is None:
            return None
        if self.source == "@today":
            return ctx.today
        if self.source == "@application_id":
            return ctx.application_id
        if self.source == "@municipality":
            return ctx.site.name.get("ja", "")
        if self.source == "@addressee":
            return ctx.site.addressee.get("ja", "")
        if self.source == "@head_of_household":
            return head_name(ctx.values)
        if self.source == "@relationship_to_head":
            rel = ctx.values.get("relationship_to_head")
            return relationship_word(rel, ctx.values.get("sex")) if rel else None
        if self.source in SLIP_SOURCES:
            return ctx.slip.get(self.source[1:])
        return ctx.values.get(self.source)

    def draw(self, pen: Pen, ctx: Ctx) -> None:
        v = self.value(ctx)
        if v is not None and v != "":
            self.draw_value(pen, v, ctx)

    def draw_value(self, pen: Pen, value: Any, ctx: Ctx) -> None:
        raise NotImplementedError

    def frame(self, pen: Pen, ctx: Ctx) -> None:
        """The field's part of a background we draw ourselves (boxes, labels to mark)."""

    def extra_pages(self, ctx: Ctx) -> list[list[dict]]:
        return []


def _as_date(value, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise MalformedValue(field, "bad_date") from None


def choice_label(field_def: FieldDef | None, value, labels: dict) -> str:
    if value in labels:
        return labels[value]
    if field_def is not None:
        return field_def.choice_label(value, "ja")
    return str(value)


# ------------------------------------------------------------------------------ text

class TextField(Field):
    """One line that shrinks (then narrows) to fit its box."""

    type = "text"
    keys = {"format", "labels", "min_scale", "script", "char_space"}
    formats = ("plain", "postal", "wareki", "wareki_year", "choice", "grouped")

    def parse(self, spec, procedure, catalogue):
        if self.w <= 0 or self.h <= 0:
            raise LayoutError(f"{self.where}: `w` and `h` are required")
        self.format = spec.str("format", "plain", choices=self.formats)
        self.labels = spec.table("labels", {})
        self.min_scale = spec.num("min_scale", 0.5)
        self.script = spec.str("script", None, choices=("katakana", "hiragana"))
        self.char_space = spec.num("char_space", 0.0)

    def text_of(self, value, ctx: Ctx) -> str:
        fmt = self.format
        if fmt == "postal":
            return format_postal_code(str(value))
        if fmt == "wareki":
            return format_wareki(_as_date(value, self.name))
        if fmt == "wareki_year":
            if isinstance(value, bool) or not isinstance(value, int):
                raise MalformedValue(self.name, "not_number")
            era, year = to_wareki(date(value, 5, 1))  # a fiscal year takes the era of most of its months
            return f"{era.kanji}{'元' if year == 1 else year}"
        if fmt == "choice":
            return choice_label(self.field_def, value, self.labels)
        if fmt == "grouped":
            s = str(value)
            return " ".join(s[i:i + 4] for i in range(0, len(s), 4))
        if isinstance(value, bool):
            return "✓" if value else ""
        if isinstance(value, date):
            return format_wareki(value)
        s = str(value)
        if self.script == "hiragana":
            s = jaconv.kata2hira(s)
        elif self.script == "katakana":
            s = jaconv.hira2kata(s)
        return s

    def draw_value(self, pen, value, ctx):
        pen.text(self.text_of(value, ctx), self.box, style=self.style, size=self.size, min_size=self.min_size,
                 align=self.align, valign=self.valign, pad=self.pad, min_scale=self.min_scale,
                 field=self.name, char_space=self.char_space)


class KanaField(TextField):
    """フリガナ: a small line above a name; `script = "hiragana"` for forms that ask ふりがな."""

    type = "kana"
    default_size = 8.0


class MultilineField(TextField):
    """Wrapped lines (an address): wraps first, then shrinks, then narrows."""

    type = "multiline"
    keys = TextField.keys | {"leading"}

    def parse(self, spec, procedure, catalogue):
        super().parse(spec, procedure, catalogue)
        self.leading = spec.num("leading", 1.25)
        self.valign = spec.str("valign", "top", choices=("top", "middle", "bottom"))
        self.min_scale = spec.num("min_scale", 0.6)

    def draw_value(self, pen, value, ctx):
        pen.paragraph(self.text_of(value, ctx), self.box, style=self.style, size=self.size, min_size=self.min_size,
                      leading=self.leading, align=self.align, valign=self.valign, pad=self.pad,
                      min_scale=self.min_scale, field=self.name)


# ------------------------------------------------------------------------------ cells

class CellsField(Field):
    """One character per box: postal code, phone, account number, registration number."""

    type = "cells"
    keys = {"n", "cell_w", "gap_after", "gap", "separator", "chars", "overflow", "prefix", "prefix_w"}
    default_size = 12.0

    def parse(self, spec, procedure, catalogue):
        self.n = spec.int("n")
        if self.h <= 0:
            raise LayoutError(f"{self.where}: `h` is required")
        self.gap_after = [int(g) for g in spec.list("gap_after", [])]
        self.gap = spec.num("gap", 3.0)
        self.cell_w = spec.num("cell_w", None)
        if self.cell_w is None:
            if self.w <= 0:
                raise LayoutError(f"{self.where}: `cell_w` or `w` is required")
            self.cell_w = (self.w - self.gap * len(self.gap_after)) / self.n
        self.w = self.n * self.cell_w + self.gap * len(self.gap_after)
        self.separator = spec.str("separator", "－")
        self.chars = spec.str("chars", "digits", choices=("digits", "any"))
        self.overflow = spec.str("overflow", "error", choices=("error", "text"))
        self.prefix = spec.str("prefix", None)
        self.prefix_w = spec.num("prefix_w", 5.0)
        self.align = spec.str("align", "left", choices=("left", "right"))

    def extent(self) -> list[Box]:
        left = self.x - self.prefix_w if self.prefix else self.x
        return [Box(left, self.y, self.x + self.w - left, self.h)]

    def cells(self) -> list[Box]:
        out = []
        x = self.x
        for i in range(self.n):
            out.append(Box(x, self.y, self.cell_w, self.h))
            x += self.cell_w
            if i + 1 in self.gap_after:
                x += self.gap
        return out

    def chars_of(self, value) -> str:
        import unicodedata
        s = unicodedata.normalize("NFKC", str(value))
        if self.chars == "digits":
            return "".join(ch for ch in s if ch.isdigit())
        return "".join(ch for ch in s if not ch.isspace())

    def draw_value(self, pen, value, ctx):
        s = self.chars_of(value)
        if len(s) > self.n:
            if self.overflow == "text":
                pen.text(str(value), Box(self.x, self.y, self.w, self.h), style=self.style, size=self.size,
                         min_size=self.min_size, field=self.name)
                return
            raise MalformedValue(self.name, "too_many_characters",
                                 f"value of field {self.name} has more than {self.n} characters")
        boxes = self.cells()
        start = self.n - len(s) if self.align == "right" else 0
        for ch, b in zip(s, boxes[start:], strict=False):
            pen.text(ch, b, style=self.style, size=self.size, min_size=self.min_size, align="center",
                     pad=0.2, field=self.name)

    def frame(self, pen, ctx):
        boxes = self.cells()
        for b in boxes:
            pen.rect(b.x, b.y, b.w, b.h, width=0.5)
        for i in self.gap_after:
            if 0 < i < self.n and self.separator:
                left = boxes[i - 1]
                pen.text(self.separator, Box(left.x + left.w, self.y, self.gap, self.h), style=LABEL_STYLE,
                         size=min(9.0, self.h / PT * 0.6), align="center", pad=0, field=self.where)
        if self.prefix:
            pen.text(self.prefix, Box(self.x - self.prefix_w, self.y, self.prefix_w, self.h), style=LABEL_STYLE,
                     size=min(10.0, self.h / PT * 0.7), align="center", pad=0, field=self.where)


# ------------------------------------------------------------------------------ dates

class DateField(Field):
    """A 和暦 date: `text` (令和7年4月1日 in a box), `parts` (era + numbers before 年月日 printed on
    the form) or `eras` (era names on the form, the right one circled, then the numbers)."""

    type = "date"
    keys = {"style", "eras", "era_w", "unit_w", "cells", "gannen", "label_size", "min_scale"}
    source_types = {"date"}
    default_size = 11.0

    def parse(self, spec, procedure, catalogue):
        if self.w <= 0 or self.h <= 0:
            raise LayoutError(f"{self.where}: `w` and `h` are required")
        self.date_style = spec.str("style", "parts", choices=("text", "parts", "eras"))
        names = [e.kanji for e in ERAS]
        self.eras = spec.list("eras", names)
        bad = [e for e in self.eras if e not in names]
        if bad:
            raise LayoutError(f"{self.where}: unknown eras {bad}")
        self.era_w = spec.num("era_w", 12.0 if self.date_style == "parts" else 10.0)
        self.unit_w = spec.num("unit_w", 4.5)
        self.use_cells = spec.bool("cells", False)
        self.gannen = spec.bool("gannen", self.date_style == "text")
        self.label_size = spec.num("label_size", 9.0)
        self.min_scale = spec.num("min_scale", 0.5)

    # geometry ------------------------------------------------------------------
    def era_box(self) -> Box:
        return Box(self.x, self.y, self.era_w, self.h)

    def number_boxes(self) -> list[tuple[Box, Box]]:
        """(number box, unit box) for 年, 月, 日."""
        x = self.x + self.era_w
        num_w = (self.w - self.era_w - 3 * self.unit_w) / 3
        out = []
        for _ in range(3):
            out.append((Box(x, self.y, num_w, self.h), Box(x + num_w, self.y, self.unit_w, self.h)))
            x += num_w + self.unit_w
        return out

    def era_label_boxes(self) -> dict[str, Box]:
        """Where each era's name is printed (eras style): a column when the box is tall enough."""
        n = len(self.eras)
        b = self.era_box()
        out = {}
        if self.h >= n * 3.2:
            step = (self.h - 1) / n
            for i, e in enumerate(self.eras):
                out[e] = Box(b.x, b.y + 0.5 + i * step, b.w, step)
        else:
            step = b.w / n
            for i, e in enumerate(self.eras):
                out[e] = Box(b.x + i * step, b.y, step, b.h)
        return out

    def _era_label_size(self, boxes: dict[str, Box]) -> float:
        one = next(iter(boxes.values()))
        return min(self.label_size, one.h / PT * 0.75, one.w / PT / 2.4)

    # drawing -------------------------------------------------------------------
    def draw_value(self, pen, value, ctx):
        d = _as_date(value, self.name)
        if self.date_style == "text":
            pen.text(format_wareki(d, gannen=self.gannen), self.box, style=self.style, size=self.size,
                     min_size=self.min_size, align=self.align, pad=self.pad, min_scale=self.min_scale, field=self.name)
            return
        era, year, month, day = wareki_parts(d)
        if self.date_style == "eras":
            boxes = self.era_label_boxes()
            if era not in boxes:
                raise MalformedValue(self.name, "era_not_on_form", f"the era of field {self.name} is not on the form")
            b = boxes[era]
            size = self._era_label_size(boxes)
            w = fonts.width(fonts.runs(era, LABEL_STYLE, self.where), size) * PT
            pen.ellipse(b.x + b.w / 2, b.y + b.h / 2, w / 2 + 1.0, size * PT / 2 + 0.6)
        else:
            pen.text(era, self.era_box(), style=self.style, size=self.size, min_size=self.min_size,
                     align="center", pad=0.3, field=self.name)
        numbers = ["元" if (year == 1 and self.gannen) else str(year), str(month), str(day)]
        for text, (num_box, _unit) in zip(numbers, self.number_boxes(), strict=True):
            if self.use_cells:
                cells = self._cells(num_box)
                for ch, cb in zip(text.rjust(2), cells, strict=False):
                    if ch.strip():
                        pen.text(ch, cb, style=self.style, size=self.size, min_size=self.min_size, align="center",
                                 pad=0.2, field=self.name)
            else:
                pen.text(text, num_box, style=self.style, size=self.size, min_size=self.min_size, align="center",
                         pad=0.3, field=self.name)

    def _cells(self, b: Box) -> list[Box]:
        cw = min(b.w / 2, self.h * 0.8)
        x0 = b.x + (b.w - 2 * cw) / 2
        y = b.y + (b.h - cw * 1.15) / 2
        return [Box(x0, y, cw, cw * 1.15), Box(x0 + cw, y, cw, cw * 1.15)]

    def frame(self, pen, ctx):
        if self.date_style == "text":
            return
        for (num_box, unit_box), unit in zip(self.number_boxes(), "年月日", strict=True):
            pen.text(unit, unit_box, style=LABEL_STYLE, size=self.label_size, align="center", pad=0, field=self.where)
            if self.use_cells:
                for cb in self._cells(num_box):
                    pen.rect(cb.x, cb.y, cb.w, cb.h, width=0.5)
        if self.date_style == "eras":
            boxes = self.era_label_boxes()
            size = self._era_label_size(boxes)
            for era, b in boxes.items():
                pen.text(era, b, style=LABEL_STYLE, size=size, align="center", pad=0, field=self.where)


# ------------------------------------------------------------------------------ choices

class ChoiceField(Field):
    """One of several labels printed on the form gets a ✓ in its box (`mark = "check"`) or a
    circle around it (`mark = "circle"`). Options flow in a row or a column inside the box,
    or sit where `at = { value = [x, y, w, h] }` says (a city's own pre-printed form)."""

    type = "choice"
    keys = {"options", "labels", "mark", "direction", "gap", "box_size", "at", "label_size"}
    source_types = {"choice"}
    default_size = 9.0

    def parse(self, spec, procedure, catalogue):
        fd = self.field_def
        if fd is None and self.source is not None:
            raise LayoutError(f"{self.where}: choice fields need a catalogue field")
        self.options = spec.list("options", list(fd.choices) if fd else [])
        bad = [o for o in self.options if fd and o not in fd.choices]
        if bad:
            raise LayoutError(f"{self.where}: {self.source} has no choices {bad}")
        self.labels = spec.table("labels", {})
        self.mark = spec.str("mark", "check", choices=("check", "circle"))
        self.direction = spec.str("direction", "row", choices=("row", "column"))
        self.gap = spec.num("gap", 5.0)
        self.box_size = spec.num("box_size", 3.4)
        self.label_size = spec.num("label_size", self.size)
        at = spec.table("at", {})
        self.at = {}
        for k, v in at.items():
            if k not in self.options or not (isinstance(v, list) and len(v) == 4):
                raise LayoutError(f"{self.where}: `at.{k}` must be an option with [x, y, w, h]")
            self.at[k] = Box(*map(float, v))
        if not self.at and (self.w <= 0 or self.h <= 0):
            raise LayoutError(f"{self.where}: `w` and `h` (or `at`) are required")

    def label(self, option) -> str:
        return choice_label(self.field_def, option, self.labels)

    def extent(self) -> list[Box]:
        if self.at:
            return list(self.at.values())
        # options flow from the box's left edge and may run past its right one
        return [self.box] + [b for pair in self.geometry().values() for b in pair]

    def geometry(self) -> dict[str, tuple[Box, Box]]:
        """option → (mark box, label box)."""
        if self.at:
            return {k: (b, b) for k, b in self.at.items()}
        out = {}
        em = self.label_size * PT
        n = len(self.options)
        if self.direction == "column":
            step = (self.h - 2 * self.pad) / n
            for i, opt in enumerate(self.options):
                top = self.y + self.pad + i * step
                out[opt] = self._one(opt, self.x + self.pad, top, step, em)
        else:
            x = self.x + self.pad
            for opt in self.options:
                mark_box, label_box = self._one(opt, x, self.y, self.h, em)
                out[opt] = (mark_box, label_box)
                x = label_box.x + label_box.w + self.gap
        return out

    def _one(self, opt, x, top, height, em):
        label_w = fonts.width(fonts.runs(self.label(opt), LABEL_STYLE, self.where), self.label_size) * PT
        if self.mark == "check":
            s = self.box_size
            mark = Box(x, top + (height - s) / 2, s, s)
            label = Box(x + s + 1.0, top, label_w + 0.5, height)
        else:
            label = Box(x + 1.2, top, label_w + 0.5, height)
            mark = Box(x, top + (height - em) / 2 - 0.7, label_w + 2.9, em + 1.4)
        return mark, label

    def draw_value(self, pen, value, ctx):
        geo = self.geometry()
        if value not in geo:
            return  # a valid answer this form has no box for (e.g. sex "unknown"): left for the counter
        mark, _label = geo[value]
        if self.mark == "check":
            pen.check_mark(mark.x, mark.y, mark.w)
        else:
            pen.ellipse(mark.x + mark.w / 2, mark.y + mark.h / 2, mark.w / 2, mark.h / 2)

    def frame(self, pen, ctx):
        if self.at:
            return
        for opt, (mark, label) in self.geometry().items():
            if self.mark == "check":
                pen.rect(mark.x, mark.y, mark.w, mark.h, width=0.5)
            pen.text(self.label(opt), label, style=LABEL_STYLE, size=self.label_size, pad=0, field=self.where)


class CheckField(Field):
    """A yes/no answer: ✓ in a box when true; the box and its label are on the form."""

    type = "check"
    keys = {"label", "box_size", "label_size", "label_w"}
    source_types = {"checkbox"}
    default_size = 9.0

    def parse(self, spec, procedure, catalogue):
        self.label = spec.str("label", None)
        self.box_size = spec.num("box_size", 3.4)
        self.label_size = spec.num("label_size", self.size)
        self.label_w = spec.num("label_w", 60.0)

    def extent(self) -> list[Box]:
        box = Box(self.x, self.y, self.box_size, self.box_size)
        if not self.label:
            return [box]
        return [box, Box(self.x + self.box_size + 1.0, self.y - 1.0, self.label_w, self.box_size + 2.0)]

    def draw_value(self, pen, value, ctx):
        if not isinstance(value, bool):
            raise MalformedValue(self.name, "not_boolean")
        if value:
            pen.check_mark(self.x, self.y, self.box_size)

    def frame(self, pen, ctx):
        pen.rect(self.x, self.y, self.box_size, self.box_size, width=0.5)
        if self.label:
            pen.text(self.label, Box(self.x + self.box_size + 1.0, self.y - 1.0, self.label_w, self.box_size + 2.0),
                     style=LABEL_STYLE, size=self.label_size, pad=0, field=self.where)


# ------------------------------------------------------------------------------ household

HOUSEHOLD_KEYS = ("name", "kana", "birth_date", "sex", "relationship", "lives_apart")
DEFAULT_COLUMN_LABELS = {"name": "氏名", "kana": "フリガナ", "birth_date": "生年月日", "sex": "性別",
                         "relationship": "続柄", "lives_apart": "同居・別居",
                         "individual_number": "個人番号（窓口記入）"}
# Columns left blank for the counter to write in: 個人番号 is on a form where the law asks for it,
# but nothing reads it into the application (the clerk writes it after checking the card).
HANDWRITTEN_COLUMNS = ("individual_number",)
# The 住民票's words for a relationship to the head of household: by sex where it has two.
RELATIONSHIP_WORDS: dict[str, str | tuple[str, str, str]] = {
    "head": "世帯主", "spouse": ("夫", "妻", "配偶者"), "child": "子", "parent": ("父", "母", "父母"),
    "grandparent": ("祖父", "祖母", "祖父母"), "grandchild": "孫", "sibling": ("兄弟", "姉妹", "兄弟姉妹"),
    "other": "その他"}


def relationship_word(value: str, sex: str | None) -> str:
    """The Japanese word for a relationship on paper (妻 rather than spouse), whatever the language."""
    word = RELATIONSHIP_WORDS.get(value)
    if isinstance(word, tuple):
        return word[0] if sex == "male" else word[1] if sex == "female" else word[2]
    return word or ""
SEX_LABELS = {"male": "男", "female": "女"}
HEADER_ABOVE = 5.5       # mm: a table's heading sits this far above it


@dataclass
class Column:
    key: str
    w: float
    label: str
    kana: bool          # name column: フリガナ in the upper part of the row
    size: float
    labels: dict
    cells: int = 0      # a handwritten column: this many boxes a row (個人番号: 12)
    seen_from: str = "head"   # relationship: to the 世帯主 (as recorded) or to the "person" filing


class HouseholdField(Field):
    """A table of the people in the household, one row each; rows that do not fit go on a
    continuation sheet (別紙) with the same columns, never dropped."""

    type = "household"
    keys = {"columns", "rows", "row_h", "header_h", "header", "label_size"}
    source_types = {"household"}
    default_size = 10.0

    def parse(self, spec, procedure, catalogue):
        self.rows = spec.int("rows", 4)
        self.row_h = spec.num("row_h", 11.0)
        self.header_h = spec.num("header_h", 6.0)
        self.header = spec.str("header", None)
        self.label_size = spec.num("label_size", 8.0)
        self.columns: list[Column] = []
        for i, raw in enumerate(spec.list("columns")):
            cs = Spec(raw, f"{self.where}.columns[{i}]",
                      {"key", "w", "label", "kana", "size", "labels", "cells", "seen_from"})
            key = cs.str("key", choices=HOUSEHOLD_KEYS + HANDWRITTEN_COLUMNS)
            cells = cs.int("cells", 0)
            if cells and key not in HANDWRITTEN_COLUMNS:
                raise LayoutError(f"{self.where}.columns[{i}]: `cells` is for a column written at the counter")
            seen_from = cs.str("seen_from", "head", choices=("head", "person"))
            if seen_from != "head" and key != "relationship":
                raise LayoutError(f"{self.where}.columns[{i}]: `seen_from` is for the relationship column")
            self.columns.append(Column(key, cs.num("w"), cs.str("label", DEFAULT_COLUMN_LABELS[key]),
                                       cs.bool("kana", False), cs.num("size", self.size), cs.table("labels", {}),
                                       cells, seen_from))
        self.w = sum(c.w for c in self.columns)
        self.h = self.header_h + self.rows * self.row_h

    def extent(self) -> list[Box]:
        return [Box(self.x, self.y - HEADER_ABOVE, self.w, self.h + HEADER_ABOVE)] if self.header else [self.box]

    def _col_x(self, left: float | None = None) -> list[float]:
        xs, x = [], self.x if left is None else left
        for c in self.columns:
            xs.append(x)
            x += c.w
        return xs

    def _draw_table(self, pen: Pen, top: float, n_rows: int, left: float | None = None):
        """Grid and headings (also used on continuation sheets, where the table may sit elsewhere)."""
        x0 = self.x if left is None else left
        xs = self._col_x(x0)
        pen.rect(x0, top, self.w, self.header_h, width=0.5, fill=0.9)
        for cx, c in zip(xs, self.columns, strict=True):
            pen.text(c.label, Box(cx, top, c.w, self.header_h), style=LABEL_STYLE, size=self.label_size,
                     align="center", pad=0.5, field=self.where)
        body_top = top + self.header_h
        pen.rect(x0, top, self.w, self.header_h + n_rows * self.row_h, width=0.8)
        for r in range(1, n_rows + 1):
            pen.line(x0, body_top + r * self.row_h, x0 + self.w, body_top + r * self.row_h, width=0.4)
        pen.line(x0, body_top, x0 + self.w, body_top, width=0.5)
        for cx in xs[1:]:
            pen.line(cx, top, cx, body_top + n_rows * self.row_h, width=0.4)
        for cx, c in zip(xs, self.columns, strict=True):
            if c.kana:
                for r in range(n_rows):
                    y = body_top + r * self.row_h + self.row_h * 0.36
                    pen.line(cx, y, cx + c.w, y, width=0.3, dash=(1, 1.5))
            if c.cells:
                # boxes of 4 + 4 + 4 (as the card prints the number), centred in each row
                cell_w = min((c.w - 2.0 - 2.0) / c.cells, 4.5)
                h = min(self.row_h - 3.0, 6.0)
                x_first = cx + (c.w - cell_w * c.cells - 2.0) / 2
                for r in range(n_rows):
                    y = body_top + r * self.row_h + (self.row_h - h) / 2
                    x = x_first
                    for k in range(c.cells):
                        pen.rect(x, y, cell_w, h, width=0.3)
                        x += cell_w + (1.0 if (k + 1) % 4 == 0 else 0.0)

    def _draw_rows(self, pen: Pen, members: list[dict], first_index: int, top: float, ctx: Ctx,
                   left: float | None = None):
        body_top = top + self.header_h
        xs = self._col_x(left)
        for r, m in enumerate(members):
            y = body_top + r * self.row_h
            idx = first_index + r
            for cx, c in zip(xs, self.columns, strict=True):
                path = f"{self.source}[{idx}].{c.key}"
                v = m.get(c.key)
                if c.key == "relationship" and c.seen_from == "person":
                    v = relationship_to_person(v, ctx.values.get("relationship_to_head"))
                if c.key in HANDWRITTEN_COLUMNS:
                    continue
                if c.kana:
                    kana = m.get("kana")
                    if kana:
                        pen.text(kana, Box(cx, y, c.w, self.row_h * 0.36), style=self.style, size=7.0,
                                 min_size=4.0, pad=0.8, field=f"{self.source}[{idx}].kana")
                    if v:
                        pen.text(v, Box(cx, y + self.row_h * 0.36, c.w, self.row_h * 0.64), style=self.style,
                                 size=c.size, min_size=5.0, pad=0.8, field=path)
                    continue
                if v is None or v == "":
                    continue
                if c.key == "birth_date":
                    text = format_wareki(_as_date(v, path))
                elif c.key == "sex":
                    text = c.labels.get(v, SEX_LABELS.get(v, ""))
                elif c.key == "lives_apart":
                    text = "別居" if v is True else "同居"
                elif c.key == "relationship":
                    # Always Japanese on the paper: the layout's word, ours, or the catalogue's.
                    text = (c.labels.get(v) or relationship_word(v, m.get("sex"))
                            or ctx.catalogue.relationships.get(v, {}).get("ja", "その他"))
                else:
                    text = str(v)
                if text:
                    pen.text(text, Box(cx, y, c.w, self.row_h), style=self.style, size=min(c.size, 10.0),
                             min_size=4.5, align="center" if c.key in ("sex", "relationship") else "left",
                             pad=0.8, field=path)

    def draw_value(self, pen, value, ctx):
        if not isinstance(value, list):
            raise MalformedValue(self.name, "not_list")
        self._draw_rows(pen, value[:self.rows], 0, self.y, ctx)

    def frame(self, pen, ctx):
        self._draw_table(pen, self.y, self.rows)
        if self.header:
            pen.text(self.header, Box(self.x, self.y - HEADER_ABOVE, self.w, 5.0), style=LABEL_STYLE, size=9.0, pad=0,
                     field=self.where)

    def overflow(self, ctx: Ctx) -> list[dict]:
        v = self.value(ctx)
        return v[self.rows:] if isinstance(v, list) else []

    def draw_continuation(self, pen: Pen, members: list[dict], first_index: int, top: float, ctx: Ctx,
                          left: float):
        self._draw_table(pen, top, len(members), left)
        self._draw_rows(pen, members, first_index, top, ctx, left)


# ------------------------------------------------------------------------------ QR

CAPTION_H = 4.0          # mm: the caption above a QR code


class QrField(Field):
    """The form's code (MDGF1:<id>) so a clerk opens the record by scanning the paper; the id
    is printed beneath it for typing. Without an application id: a box marked 見本 (sample).
    `content = "status_url"` (the slip): the resident's status page instead, nothing beneath."""

    type = "qr"
    keys = {"caption", "content"}

    def parse(self, spec, procedure, catalogue):
        if self.w <= 0:
            raise LayoutError(f"{self.where}: `w` (the code's size) is required")
        self.h = self.h or self.w + 4.0
        self.caption = spec.str("caption", "受付番号")
        self.content = spec.str("content", "form_code", choices=("form_code", "status_url"))

    def extent(self) -> list[Box]:
        return [Box(self.x, self.y - CAPTION_H, self.w, self.h + CAPTION_H)] if self.caption else [self.box]

    def draw(self, pen, ctx):
        code_box = Box(self.x, self.y, self.w, self.w)
        if not ctx.application_id:
            pen.rect(self.x + 1, self.y + 1, self.w - 2, self.w - 2, width=1.0, dash=(2, 2))
            pen.text("見本", Box(self.x, self.y + self.w * 0.18, self.w, self.w * 0.4), style=LABEL_STYLE,
                     size=16, align="center", field="qr")
            pen.text("SAMPLE", Box(self.x, self.y + self.w * 0.56, self.w, self.w * 0.25), style=LABEL_STYLE,
                     size=9, align="center", field="qr")
            return
        import segno
        if self.content == "status_url":
            url = ctx.slip.get("status_url")
            if url:   # level Q and a full quiet zone: a phone camera reads it off crumpled paper
                qr = segno.make(url, error="q", micro=False, boost_error=False, mask=0)
                module = code_box.w / (len(qr.matrix) + 8)
                pen.modules(qr.matrix, code_box.x + 4 * module, code_box.y + 4 * module, module)
            return
        # a fixed mask: choosing the "best" one triples the time, and any mask scans
        qr = segno.make(form_code(ctx.application_id), error="m", micro=False, mask=0)
        n = len(qr.matrix)
        quiet = 2
        module = code_box.w / (n + 2 * quiet)
        pen.modules(qr.matrix, code_box.x + quiet * module, code_box.y + quiet * module, module)
        gid = ctx.application_id
        grouped = " ".join(gid[i:i + 4] for i in range(0, len(gid), 4))
        pen.text(grouped, Box(self.x - 2, self.y + self.w, self.w + 4, self.h - self.w), style="gothic", size=7.5,
                 align="center", pad=0, min_scale=0.6, field="qr")

    def frame(self, pen, ctx):
        if self.caption:
            pen.text(self.caption, Box(self.x, self.y - CAPTION_H, self.w, CAPTION_H), style=LABEL_STYLE, size=7,
                     align="center", pad=0, field=self.where)


FIELD_TYPES: dict[str, type[Field]] = {cls.type: cls for cls in (
    TextField, KanaField, MultilineField, CellsField, DateField, ChoiceField, CheckField, HouseholdField, QrField)}
