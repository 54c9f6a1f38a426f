"""The counter's catalogues: every text the clerk screens use is translated in Japanese and
English (the screens offer those two; the log printed for a resident is in Japanese)."""
import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.helpers import ROOT

COUNTER = ROOT / "counter"
LOCALES = ("ja", "en")
_PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*[sdfr]")


def used_msgids() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "N_": None, "tr": None}
    return {msg[2] for msg in extract_from_dir(str(COUNTER), method_map, keywords=keywords) if isinstance(msg[2], str)}


@pytest.fixture(scope="module")
def msgids():
    ids = used_msgids()
    assert len(ids) > 200  # the extraction really found the screens' texts
    return ids


@pytest.mark.parametrize("locale", LOCALES)
def test_every_counter_text_is_translated(msgids, locale):
    path = COUNTER / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with open(path, "rb") as f:
        catalogue = {m.id: m for m in read_po(f) if m.id}
    missing = sorted(i for i in msgids if i not in catalogue or not catalogue[i].string)
    assert missing == []
    fuzzy = sorted(i for i in msgids if catalogue[i].fuzzy)
    assert fuzzy == []
    for msgid in msgids:
        assert sorted(_PLACEHOLDER.findall(msgid)) == sorted(_PLACEHOLDER.findall(catalogue[msgid].string)), msgid


def test_japanese_is_really_japanese(msgids):
    with open(COUNTER / "translations" / "ja" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalogue = {m.id: m.string for m in read_po(f) if m.id}
    untranslated = [i for i in msgids if catalogue.get(i) == i and re.search(r"[A-Za-z]{3}", i)]
    assert untranslated == []
