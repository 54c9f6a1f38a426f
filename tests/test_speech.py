"""Voice guidance: the Open JTalk driver, the speech cache, POST /kiosk/speech and its settings."""
from __future__ import annotations

import io
import os
import shutil
import stat
import threading
import wave

import pytest

from core.config import load_config
from hardware.speech import MAX_CHARS, Speaker, SpeechError, open_speaker
from hardware.speech.cache import SpeechCache
from hardware.speech.openjtalk import OpenJTalk
from hardware.speech.simulated import SimulatedSynthesizer
from tests.conftest import test_overrides as overrides_in
from tests.helpers import ROOT
from tests.kiosk_helpers import Kiosk


def seconds_of(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as w:
        return w.getnframes() / w.getframerate()


def open_jtalk_problem() -> str | None:
    return OpenJTalk().problem()


needs_open_jtalk = pytest.mark.skipif(
    open_jtalk_problem() is not None,
    reason=f"Open JTalk cannot run here: {open_jtalk_problem()} (scripts/install-system-packages installs it)")


# --- the driver ------------------------------------------------------------------------------

@needs_open_jtalk
def test_open_jtalk_says_konnichiwa_in_about_a_second():
    wav = OpenJTalk().synthesize("こんにちは")
    assert wav.startswith(b"RIFF") and wav[8:12] == b"WAVE"
    # Five morae: well under a second of speech plus the voice's pauses, never a click or a minute.
    assert 0.5 < seconds_of(wav) < 3.0


@needs_open_jtalk
def test_a_longer_text_makes_longer_speech_and_line_breaks_are_one_text():
    short = seconds_of(OpenJTalk().synthesize("こんにちは"))
    longer = seconds_of(OpenJTalk().synthesize("カードを読み取り機に置いてください。\n暗証番号を入力してください。"))
    assert longer > short * 2


def test_open_jtalk_without_its_binary_or_voice_says_why():
    assert "open_jtalk is not installed" in OpenJTalk(binary="no-such-open-jtalk").problem()
    missing = OpenJTalk(voice="/nonexistent/voice.htsvoice")
    if shutil.which("open_jtalk") and (missing.dictionary / "sys.dic").is_file():
        assert "does not exist" in missing.problem()
    with pytest.raises(SpeechError) as e:
        OpenJTalk(binary="no-such-open-jtalk").synthesize("こんにちは")
    assert e.value.reason == "unavailable"


def test_open_jtalk_with_a_broken_voice_fails_without_crashing(tmp_path):
    if not shutil.which("open_jtalk"):
        pytest.skip("open_jtalk is not installed")
    bad = tmp_path / "bad.htsvoice"
    bad.write_bytes(b"not a voice")
    with pytest.raises(SpeechError) as e:
        OpenJTalk(voice=str(bad)).synthesize("こんにちは")
    assert e.value.reason in ("failed", "unavailable")


def test_the_simulated_voice_is_a_real_wav_as_long_as_the_text():
    synth = SimulatedSynthesizer()
    assert 0.5 < seconds_of(synth.synthesize("こんにちは")) < seconds_of(synth.synthesize("こんにちは" * 5)) <= 4.0


# --- the cache -------------------------------------------------------------------------------

def test_the_same_text_twice_is_made_once(tmp_path):
    synth = SimulatedSynthesizer()
    speaker = Speaker(synth, SpeechCache(tmp_path / "speech"))
    first = speaker.speak("カードを置いてください", "ja")
    second = speaker.speak("カードを置いてください", "ja")
    assert (first.cached, second.cached, synth.made) == (False, True, 1)
    assert second.wav == first.wav
    speaker.speak("カードを置いてください", "ja-easy")    # another language: its own entry
    assert synth.made == 2


def test_cache_files_are_private_and_named_by_a_hash(tmp_path):
    folder = tmp_path / "speech"
    Speaker(SimulatedSynthesizer(), SpeechCache(folder)).speak("山田 太郎さん", "ja")
    files = list(folder.iterdir())
    assert len(files) == 1
    assert "山田" not in files[0].name and len(files[0].stem) == 64
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600


def test_the_cache_keeps_its_size_dropping_the_least_recently_used(tmp_path):
    synth = SimulatedSynthesizer()
    one = len(synth.synthesize("あ" * 10))
    cache = SpeechCache(tmp_path / "speech", max_bytes=int(one * 2.5))
    speaker = Speaker(synth, cache)
    speaker.speak("い" * 10)
    speaker.speak("う" * 10)
    old = cache.folder / f"{cache.key(synth.name, 'ja', 'い' * 10)}.wav"
    os.utime(old, (1, 1))                         # the oldest use…
    speaker.speak("う" * 10)                      # (a hit keeps this one fresh)
    speaker.speak("え" * 10)                      # …goes when a third would pass the cap
    assert cache.size() <= cache.max_bytes
    assert not old.exists()
    assert speaker.speak("う" * 10).cached


def test_an_unwritable_cache_still_speaks(tmp_path):
    blocker = tmp_path / "speech"
    blocker.write_text("a file where the folder should be")
    speech = Speaker(SimulatedSynthesizer(), SpeechCache(blocker)).speak("こんにちは")
    assert speech.wav.startswith(b"RIFF") and not speech.cached


def test_one_synthesis_at_a_time_and_a_crowd_is_told_busy(tmp_path):
    release = threading.Event()

    class Slow(SimulatedSynthesizer):
        def synthesize(self, text):
            release.wait(5)
            return super().synthesize(text)

    speaker = Speaker(Slow(), SpeechCache(tmp_path / "speech"))
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(_try(speaker, f"文{i}"))) for i in range(6)]
    for t in threads:
        t.start()
    threading.Event().wait(0.3)
    release.set()
    for t in threads:
        t.join(10)
    assert results.count("busy") >= 3          # one runs, two may wait, the rest are refused at once
    assert "ok" in results


def _try(speaker, text):
    try:
        speaker.speak(text)
        return "ok"
    except SpeechError as e:
        return e.reason


# --- settings -------------------------------------------------------------------------------

def test_speech_settings_and_their_defaults(tmp_path):
    config = load_config(ROOT / "config.toml", overrides=overrides_in(tmp_path), base_dir=tmp_path)
    assert (config.devices.speech, config.kiosk.speech_on_start) == ("openjtalk", False)
    off = config.replace({"devices": {"speech": "off"}})
    assert open_speaker(off) is None
    from core.errors import ConfigError
    with pytest.raises(ConfigError, match="devices.speech must be one of"):
        config.replace({"devices": {"speech": "festival"}})


# --- the route ------------------------------------------------------------------------------

@pytest.fixture
def speaking_kiosk(kiosk_app):
    return Kiosk(kiosk_app(devices={"emulator_persona": "", "speech": "simulated"}))


def say(k: Kiosk, body, **headers):
    return k.client.post("/kiosk/speech", json=body, headers={"X-CSRF-Token": k.csrf, **headers})


def test_japanese_is_spoken_by_the_kiosk_and_cached(speaking_kiosk):
    k = speaking_kiosk
    k.start("ja")
    first = say(k, {"text": "カードを置いてください", "lang": "ja"})
    assert first.status_code == 200 and first.mimetype == "audio/wav"
    assert first.data.startswith(b"RIFF") and first.headers["X-Speech-Cache"] == "miss"
    assert "no-store" in first.headers["Cache-Control"]
    second = say(k, {"text": "カードを置いてください", "lang": "ja"})
    assert second.headers["X-Speech-Cache"] == "hit" and second.data == first.data
    assert say(k, {"text": "かーどを おいて ください", "lang": "ja-easy"}).status_code == 200


def test_other_languages_are_left_to_the_browser(speaking_kiosk):
    k = speaking_kiosk
    k.start("en")
    r = say(k, {"text": "Put your card on the reader", "lang": "en"})
    assert r.status_code == 409 and r.json["use"] == "browser"


@pytest.mark.parametrize("body, error", [
    ({"text": "", "lang": "ja"}, "empty"),
    ({"text": "   \n ", "lang": "ja"}, "empty"),
    ({"text": "あ" * (MAX_CHARS + 1), "lang": "ja"}, "too_long"),
    ({"text": "こんにちは", "lang": "klingon"}, "bad_request"),
    ({"text": 12, "lang": "ja"}, "bad_request"),
    ({"text": ["a"], "lang": "ja"}, "bad_request"),
    ({"lang": "ja"}, "bad_request"),
    (["not", "an", "object"], "bad_request"),
])
def test_bad_input_gets_a_400_with_words(speaking_kiosk, body, error):
    k = speaking_kiosk
    k.start("ja")
    r = say(k, body)
    assert r.status_code == 400, r.data
    assert r.json["error"] == error and r.json["message"]


def test_the_words_of_a_refusal_are_in_the_visitors_language(speaking_kiosk):
    k = speaking_kiosk
    k.start("ja")
    assert say(k, {"text": "", "lang": "ja"}).json["message"] == "読み上げる文がありません。"


def test_not_json_is_a_400_not_a_500(speaking_kiosk):
    k = speaking_kiosk
    k.start("ja")
    r = k.client.post("/kiosk/speech", data=b"\xff\xfe{", headers={"X-CSRF-Token": k.csrf,
                                                                  "Content-Type": "application/json"})
    assert r.status_code == 400


def test_only_the_kiosks_own_browser_may_ask(kiosk_app):
    stranger = Kiosk(kiosk_app(devices={"speech": "simulated"}), paired=False)
    assert stranger.get("/kiosk/").status_code == 403 and stranger.csrf      # "this is not a kiosk"
    r = say(stranger, {"text": "こんにちは", "lang": "ja"})
    assert r.status_code == 403
    assert not (stranger.config.path(stranger.config.devices.speech_cache)).exists()


def test_without_the_csrf_token_nothing_is_made(speaking_kiosk):
    k = speaking_kiosk
    k.start("ja")
    r = k.client.post("/kiosk/speech", json={"text": "こんにちは", "lang": "ja"})
    assert r.status_code == 400
    assert not (k.config.path(k.config.devices.speech_cache)).exists()


def test_when_open_jtalk_cannot_run_the_page_is_told_to_use_the_browser(kiosk_app):
    k = Kiosk(kiosk_app(devices={"emulator_persona": "", "speech_voice": "/nonexistent/voice.htsvoice"}))
    k.start("ja")
    r = say(k, {"text": "こんにちは", "lang": "ja"})
    assert r.status_code == 503 and r.json["use"] == "browser" and r.json["message"]
    # …and `madoguchi serve` said so when it started.
    from kiosk.speech import speech_note
    note = speech_note(k.app, "http://127.0.0.1:8000")
    assert "cannot speak Japanese" in note and ("does not exist" in note or "not installed" in note)


def test_serve_says_nothing_when_speech_works(kiosk_app):
    from kiosk.speech import speech_note
    assert speech_note(kiosk_app(devices={"speech": "simulated"}), "http://127.0.0.1:8000") is None
    assert speech_note(kiosk_app(devices={"speech": "off"}), "http://127.0.0.1:8000") is None


@needs_open_jtalk
def test_the_real_voice_through_the_route(kiosk_app):
    k = Kiosk(kiosk_app(devices={"emulator_persona": ""}))
    k.start("ja")
    r = say(k, {"text": "こんにちは", "lang": "ja"})
    assert r.status_code == 200 and 0.5 < seconds_of(r.data) < 3.0


# --- the button -------------------------------------------------------------------------------

def test_every_screen_has_the_button_and_the_setting_reaches_it(kiosk_app):
    k = Kiosk(kiosk_app(devices={"emulator_persona": "", "speech": "simulated"}, kiosk={"speech_on_start": True}))
    for path in ("/kiosk/?lang=ja", "/kiosk/qr", "/kiosk/card", "/kiosk/language?next=/kiosk/"):
        html = k.get(path).get_data(as_text=True)
        assert 'data-speech ' in html and 'aria-pressed="false"' in html, path
        assert 'data-speech-on-start="yes"' in html, path
    assert 'data-speech-server="no"' in k.get("/kiosk/?lang=en").get_data(as_text=True)


def test_with_speech_off_there_is_no_button(kiosk_app):
    k = Kiosk(kiosk_app(devices={"emulator_persona": "", "speech": "off"}))
    assert "data-speech " not in k.get("/kiosk/?lang=ja").get_data(as_text=True)
    r = k.client.post("/kiosk/speech", json={"text": "こんにちは", "lang": "ja"}, headers={"X-CSRF-Token": k.csrf})
    assert r.status_code == 409 and r.json["use"] == "none"
