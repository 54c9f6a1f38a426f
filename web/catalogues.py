"""Keeping the gettext catalogues in step with the code.

Each surface (web, prereg, kiosk, counter) keeps `<surface>/translations/<locale>/LC_MESSAGES/messages.po`.
`python -m web.catalogues update prereg` extracts the msgids from the surface's templates and
Python files (with Babel) and merges them into its catalogues: new msgids are added untranslated,
removed ones are dropped, translations are kept. `python -m web.catalogues check prereg` lists
what is missing (tests/test_translations.py runs it for every surface that has catalogues).
"""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("ja", "en", "zh_Hans_CN", "ko", "vi", "pt_BR", "ja_JP")
METHOD_MAP = [
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
OPTIONS_MAP = {"**/templates/**.html": {"trimmed": "true"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "lazy_ngettext": (1, 2),
            "N_": None, "tr": None}
# The clerk screens are not offered in やさしい日本語 (ja-easy shows them in Japanese), and a
# ja_JP catalogue of standard Japanese would be merged over the kiosk's and prereg's.
SURFACE_LOCALES = {"counter": tuple(loc for loc in LOCALES if loc != "ja_JP")}


def locales(surface: str) -> tuple[str, ...]:
    return SURFACE_LOCALES.get(surface, LOCALES)


def po_path(surface: str, locale: str) -> Path:
    return ROOT / surface / "translations" / locale / "LC_MESSAGES" / "messages.po"


def _skip(path: str) -> bool:
    return "/static/" in path or "/translations/" in path or "__pycache__" in path


def extract(surface: str) -> Catalog:
    """Every msgid the surface's code and templates use."""
    template = Catalog(project="madoguchi", fuzzy=False)
    base = ROOT / surface
    for filename, lineno, message, comments, context in extract_from_dir(
            str(base), METHOD_MAP, OPTIONS_MAP, keywords=KEYWORDS, strip_comment_tags=True):
        if _skip("/" + filename):
            continue
        template.add(message, None, [(f"{surface}/{filename}", lineno)], auto_comments=comments, context=context)
    return template


def read(surface: str, locale: str) -> Catalog | None:
    path = po_path(surface, locale)
    if not path.exists():
        return None
    with open(path, "rb") as f:
        return read_po(f, locale=locale)


def write(surface: str, locale: str, catalog: Catalog) -> None:
    path = po_path(surface, locale)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        write_po(f, catalog, width=0, omit_header=False, sort_output=False, include_previous=False,
                 ignore_obsolete=True)


def update(surface: str) -> None:
    template = extract(surface)
    for locale in locales(surface):
        catalog = read(surface, locale) or Catalog(locale=locale, project="madoguchi", fuzzy=False)
        created = catalog.creation_date
        catalog.update(template, no_fuzzy_matching=True)
        catalog.creation_date = created  # no churn in the header when nothing else changed
        catalog.obsolete.clear()
        write(surface, locale, catalog)


def problems(surface: str) -> list[str]:
    """Untranslated, fuzzy, missing or stale msgids; an empty list means all is well."""
    template = extract(surface)
    wanted = {m.id for m in template if m.id}
    out = []
    for locale in locales(surface):
        catalog = read(surface, locale)
        if catalog is None:
            out.append(f"{surface} {locale}: no catalogue")
            continue
        have = {m.id for m in catalog if m.id}
        for mid in sorted(wanted - have, key=str):
            out.append(f"{surface} {locale}: not in the catalogue: {mid!r}")
        for mid in sorted(have - wanted, key=str):
            out.append(f"{surface} {locale}: no longer used: {mid!r}")
        for m in catalog:
            if not m.id:
                continue
            strings = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
            if not all(s and s.strip() for s in strings) or m.fuzzy:
                out.append(f"{surface} {locale}: not translated: {m.id!r}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("update", "check"):
        print("usage: python -m web.catalogues update|check SURFACE", file=sys.stderr)
        return 2
    command, surface = argv
    if command == "update":
        update(surface)
        return 0
    found = problems(surface)
    print("\n".join(found) or f"{surface}: every msgid is translated in {len(locales(surface))} locales")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
