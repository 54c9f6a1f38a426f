"""Voice guidance in headless Chromium on `madoguchi serve --surface kiosk`: the speech button
on every screen, what is sent to be spoken (never the PIN), the visit's choice, and the
browser's own voices for other languages (a recording stand-in for speechSynthesis, since
headless Chromium has no voices)."""
from __future__ import annotations

import json
import re

import pytest

from tests import test_kiosk_browser
from tests.test_kiosk_browser import answer_guide, serve_kiosk, tap_pin, wait_url

pytestmark = pytest.mark.browser
kiosk_page = test_kiosk_browser.kiosk_page      # the fixture: the kiosk's page, failing on script errors

DIGITS = re.compile(r"[0-9０-９]")

# speechSynthesis that records what it is asked to say; `voices` are the ones it claims to have.
FAKE_SYNTH = """(voices) => {
  window.__spoken = [];
  const fake = {
    getVoices: () => voices.map((lang) => ({ lang, name: 'test ' + lang })),
    speak: (u) => window.__spoken.push({ text: u.text, lang: u.lang }),
    cancel: () => {}, addEventListener: () => {},
  };
  Object.defineProperty(window, 'speechSynthesis', { value: fake, configurable: true });
  window.SpeechSynthesisUtterance = function (text) { this.text = text; };
}"""


@pytest.fixture
def speech_page(kiosk_page):
    """The kiosk's page (no script errors), recording the texts it sends to POST /kiosk/speech."""
    sent = []
    kiosk_page.on("request", lambda r: sent.append(json.loads(r.post_data or "{}"))
                  if r.url.endswith("/kiosk/speech") and r.method == "POST" else None)
    kiosk_page.sent = sent
    return kiosk_page


def fake_voices(page, *langs):
    page.add_init_script(f"({FAKE_SYNTH})({json.dumps(list(langs))})")


def wait_sent(page, n: int = 1):
    for _ in range(100):
        if len(page.sent) >= n:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"fewer than {n} speech requests: {page.sent}")


def to_pin_screen(page, server):
    page.goto(server.url + "/kiosk/card")
    page.click("details.k-demo summary")
    page.click("button[value=mynumber_yamada]")
    wait_url(page, r"/kiosk/card/pin$")


def test_the_pin_screen_never_sends_a_digit(overrides, speech_page):
    page = speech_page
    server, _ = serve_kiosk(overrides, page.context, devices={"speech": "simulated"},
                            kiosk={"speech_on_start": True})
    try:
        page.goto(server.url + "/kiosk/?lang=ja")
        wait_sent(page)                                    # the start screen reads itself
        page.sent.clear()
        to_pin_screen(page, server)
        wait_sent(page)
        for d in "1234":                                    # the demo card's PIN, typed on the pad
            page.click(f"[data-pin-pad] button[data-digit='{d}']")
        page.click("[data-speech]")                         # off, and on again: the screen once more,
        page.click("[data-speech]")                         # now with the PIN typed
        assert page.get_attribute("[data-speech]", "aria-pressed") == "true"
        n = len(page.sent)
        wait_sent(page, n + 1)
        page.wait_for_timeout(500)
        texts = [s["text"] for s in page.sent]
        assert any("暗証番号" in t for t in texts), texts   # the screen's words were read…
        assert not [t for t in texts if DIGITS.search(t)], texts   # …and no digit, the PIN's or any
        assert any("四桁" in t for t in texts), texts       # "4-digit" is said in words
        assert not any(t.strip() in ("削除", "OK") for t in texts), texts   # the pad is not read
        tap_pin(page, "")                                   # OK: the PIN goes to the card
        wait_url(page, r"/kiosk/purpose$")
    finally:
        server.stop()


def test_every_screen_has_the_button_and_the_visit_keeps_the_choice(overrides, speech_page):
    page = speech_page
    server, _ = serve_kiosk(overrides, page.context, devices={"speech": "simulated"})
    button = page.locator("[data-speech]")
    try:
        page.goto(server.url + "/kiosk/?lang=ja")
        assert button.is_visible() and button.get_attribute("aria-pressed") == "false"
        assert page.sent == []                              # off at the start ([kiosk].speech_on_start)
        button.click()
        assert button.get_attribute("aria-pressed") == "true"
        wait_sent(page)
        assert all(s["lang"] == "ja" for s in page.sent)
        for path, screen in (("/kiosk/qr", "qr"), ("/kiosk/card", "card"),
                             ("/kiosk/language?next=/kiosk/card", "language")):
            page.sent.clear()
            page.goto(server.url + path)
            assert button.is_visible(), screen
            assert button.get_attribute("aria-pressed") == "true", screen     # on for the rest of the visit
            wait_sent(page)                                 # and the new screen reads itself
        to_pin_screen(page, server)
        assert button.is_visible()
        tap_pin(page, "1234")
        wait_url(page, r"/kiosk/purpose$")
        assert button.is_visible() and button.get_attribute("aria-pressed") == "true"
        page.click("button[value=moving_in]")
        wait_url(page, r"/kiosk/guide$")
        assert button.is_visible()
        # A new visit (Start over) starts as the setting says: off.
        page.click("form[action$='/kiosk/end'] button")
        wait_url(page, r"/kiosk/(\?.*)?$")
        assert button.get_attribute("aria-pressed") == "false"
    finally:
        server.stop()


def test_other_languages_use_the_browsers_voice_or_say_there_is_none(overrides, speech_page):
    page = speech_page
    fake_voices(page, "en-US")
    server, _ = serve_kiosk(overrides, page.context, devices={"speech": "simulated"},
                            kiosk={"speech_on_start": True})
    try:
        page.goto(server.url + "/kiosk/?lang=en")
        page.wait_for_function("window.__spoken.length > 0")
        spoken = page.evaluate("window.__spoken")
        assert page.sent == []                              # nothing went to the server
        assert all(s["lang"] == "en-US" for s in spoken)
        assert any("card" in s["text"].lower() for s in spoken), spoken
        # The PIN screen in English: the pad and what was typed are never said.
        to_pin_screen(page, server)
        for d in "1234":
            page.click(f"[data-pin-pad] button[data-digit='{d}']")
        page.evaluate("window.__spoken.length = 0")
        page.click("[data-speech]")
        page.click("[data-speech]")
        page.wait_for_function("window.__spoken.length > 0")
        said = [s["text"] for s in page.evaluate("window.__spoken")]
        assert any("PIN" in t for t in said), said
        assert not [t for t in said if re.search(r"1\D*2\D*3\D*4", t) or re.fullmatch(r"\d|Delete|OK", t)], said
        # Korean: no voice in this browser. (A new visit ends the old one, whose page would then
        # go to the start screen itself, in the middle of this navigation: leave it first.)
        page.goto("about:blank")
        page.goto(server.url + "/kiosk/?lang=ko")
        button = page.locator("[data-speech]")
        page.wait_for_function("document.querySelector('[data-speech]').getAttribute('aria-disabled') === 'true'")
        assert button.inner_text().strip() == "이 언어로는 읽어 주기를 사용할 수 없습니다"
        assert button.get_attribute("aria-pressed") == "false"
    finally:
        server.stop()


def test_values_are_not_read_on_the_confirm_screen(overrides, speech_page):
    page = speech_page
    server, _ = serve_kiosk(overrides, page.context, devices={"speech": "simulated"},
                            kiosk={"speech_on_start": True})
    try:
        to_pin_screen(page, server)
        tap_pin(page, "1234")
        wait_url(page, r"/kiosk/purpose$")
        page.click("button[value=moving_in]")
        answer_guide(page)
        page.click("button.k-primary")                      # the procedures
        wait_url(page, r"/kiosk/ask/")
        page.sent.clear()
        page.goto(server.url + "/kiosk/confirm")
        wait_url(page, r"/kiosk/confirm$")
        wait_sent(page, 2)
        page.wait_for_timeout(500)
        texts = " ".join(s["text"] for s in page.sent)
        assert "山田" not in texts and "太郎" not in texts, texts    # the card's name is on the screen…
        assert "山田" in page.inner_text("main")                      # …but never said aloud
    finally:
        server.stop()


def test_open_jtalk_speech_plays_in_the_kiosks_browser(overrides, speech_page):
    from tests.test_speech import needs_open_jtalk
    if needs_open_jtalk.args[0]:
        pytest.skip(needs_open_jtalk.kwargs["reason"])
    page = speech_page
    # Each sound the page plays: its length once loaded, and whether play() was allowed.
    page.add_init_script("""(() => {
      window.__played = [];
      const play = HTMLMediaElement.prototype.play;
      HTMLMediaElement.prototype.play = function () {
        const entry = { duration: 0, started: null };
        window.__played.push(entry);
        this.addEventListener('loadedmetadata', () => { entry.duration = this.duration; });
        const p = play.call(this);
        p.then(() => { entry.started = true; }, () => { entry.started = false; });
        return p;
      };
    })()""")
    server, _ = serve_kiosk(overrides, page.context)          # [devices].speech = "openjtalk", the default
    try:
        page.goto(server.url + "/kiosk/?lang=ja")
        page.click("[data-speech]")                          # a touch: sound is allowed
        for _ in range(150):
            played = page.evaluate("window.__played")
            if played and played[0]["duration"] > 0 and played[0]["started"] is not None:
                break
            page.wait_for_timeout(100)
        first = played[0]
        assert first["started"] is True and 0.3 < first["duration"] < 30, first
    finally:
        server.stop()
