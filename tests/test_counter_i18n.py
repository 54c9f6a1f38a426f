"""The counter's catalogues: every text the clerk screens use is translated in every locale,
placeholders survive, and texts other surfaces share read the same (the catalogues of all
surfaces are merged, so a different wording here would change the kiosk's or prereg's pages)."""
import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.helpers import ROOT

COUNTER = ROOT / "counter"
# No ja_JP: the clerk screens are not offered in やさしい日本語 (ja-easy shows them in Japanese),
# and a ja_JP catalogue of standard Japanese would be merged over the kiosk's and prereg's.
LOCALES = ("ja", "en", "zh_Hans_CN", "ko", "vi", "pt_BR")
OTHER_SURFACES = ("web", "prereg", "kiosk")
_PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*[sdfr]")


def used_msgids() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "N_": None, "tr": None}
    return {msg[2] for msg in extract_from_dir(str(COUNTER), method_map, keywords=keywords) if isinstance(msg[2], str)}


def catalogue(surface: str, locale: str) -> dict[str, str] | None:
    path = ROOT / surface / "translations" / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return None
    with open(path, "rb") as f:
        return {m.id: m for m in read_po(f) if m.id and isinstance(m.id, str)}


@pytest.fixture(scope="module")
def msgids():
    ids = used_msgids()
    assert len(ids) > 300  # the extraction really found the screens' texts
    return ids


@pytest.mark.parametrize("locale", LOCALES)
def test_every_counter_text_is_translated(msgids, locale):
    cat = catalogue("counter", locale)
    assert cat is not None
    missing = sorted(i for i in msgids if i not in cat or not cat[i].string)
    assert missing == []
    assert sorted(i for i in msgids if cat[i].fuzzy) == []
    for msgid in msgids:
        assert sorted(_PLACEHOLDER.findall(msgid)) == sorted(_PLACEHOLDER.findall(cat[msgid].string)), msgid


@pytest.mark.parametrize("locale", ["ja", "zh_Hans_CN", "ko", "vi"])
def test_translations_are_not_left_in_english(msgids, locale):
    cat = catalogue("counter", locale)
    untranslated = [i for i in msgids if cat[i].string == i and re.search(r"[A-Za-z]{3}", i)]
    assert untranslated == []


@pytest.mark.parametrize("locale", LOCALES)
def test_texts_shared_with_other_surfaces_read_the_same(msgids, locale):
    mine = catalogue("counter", locale)
    for surface in OTHER_SURFACES:
        theirs = catalogue(surface, locale) or {}
        differing = [(i, mine[i].string, theirs[i].string) for i in msgids
                     if i in theirs and theirs[i].string and theirs[i].string != mine[i].string]
        assert differing == [], surface
