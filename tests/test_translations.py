"""Every msgid of every surface's catalogues is translated in all seven locales, and the
catalogues are up to date with the templates and the code (extracted with Babel)."""
import pytest
from babel.messages.pofile import read_po

from web import catalogues
from web.i18n import compile_catalogues


@pytest.mark.parametrize("surface", ["web", "prereg", "kiosk", "counter"])
def test_catalogue_is_complete_and_current(surface):
    assert catalogues.problems(surface) == []


@pytest.mark.parametrize("surface", ["web", "prereg", "kiosk", "counter"])
def test_placeholders_survive_translation(surface):
    import re
    for locale in catalogues.locales(surface):
        with open(catalogues.po_path(surface, locale), "rb") as f:
            catalog = read_po(f, locale=locale)
        for m in catalog:
            if not m.id:
                continue
            ids = m.id if isinstance(m.id, (tuple, list)) else (m.id,)
            strings = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
            wanted = set(re.findall(r"%\((\w+)\)s", ids[0]))
            for s in strings:
                assert set(re.findall(r"%\((\w+)\)s", s)) == wanted, (surface, locale, m.id, s)


def test_pages_speak_each_language(client):
    compile_catalogues()
    expected = {"ja": "今すぐ始める", "en": "Start now", "zh": "立即开始", "ko": "지금 시작하기",
                "vi": "Bắt đầu ngay", "pt": "Começar agora", "ja-easy": "はじめる"}
    for lang, text in expected.items():
        page = client.get(f"/prereg/?lang={lang}").get_data(as_text=True)
        assert text in page, lang
        assert 'lang="' + ("ja" if lang == "ja-easy" else lang) + '"' in page
