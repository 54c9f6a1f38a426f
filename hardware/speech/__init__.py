"""Speech for the kiosk's voice guidance: Japanese text → WAV, made on the kiosk machine.

    from hardware.speech import open_speaker
    speaker = open_speaker(config)          # [devices].speech: "openjtalk" | "simulated" | "off" → None
    speech = speaker.speak("こんにちは", "ja")  # Speech(wav=b"RIFF…", cached=False, seconds=0.41)
    speaker.problem()                       # None, or why it cannot speak (no binary, no voice)

A `Synthesizer` makes the sound (`openjtalk`: Debian's open_jtalk binary with the naist-jdic
dictionary and an HTS voice; `simulated`: a short tone, for tests and demos without the
packages); `Speaker` puts a cache (`cache.SpeechCache`, by a hash of the text) in front of it
and lets one synthesis run at a time, so a burst of requests cannot take the kiosk's CPU.
Only Japanese is synthesized here; other languages use the browser's speech synthesis.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from core.errors import MadoguchiError

ENGINES = ("openjtalk", "simulated", "off")
# Languages this package speaks: standard Japanese and やさしい日本語.
LANGUAGES = ("ja", "ja-easy")
# One request's text; a screen is sent in parts (its title, each paragraph, each button).
# (open_jtalk reads lines of up to 1023 bytes: 300 characters of Japanese fit.)
MAX_CHARS = 300
# How long a request waits for the synthesis in progress before it is told to try again.
BUSY_WAIT_SECONDS = 10.0
# Requests that may wait for it; more are told at once (each waiting one holds a server thread).
MAX_WAITING = 2


class SpeechError(MadoguchiError):
    """code: unavailable (engine cannot run) | failed (it ran and gave no sound) | busy."""
    code = "speech_error"

    def __init__(self, message: str, code: str):
        super().__init__(message, code=code)
        self.reason = code


class Synthesizer(Protocol):
    name: str

    def problem(self) -> str | None:
        """Why it cannot speak here (None when it can)."""

    def synthesize(self, text: str) -> bytes:
        """A WAV of `text` read in Japanese; raises SpeechError."""


@dataclass(frozen=True)
class Speech:
    wav: bytes
    cached: bool
    seconds: float       # time taken to answer (synthesis, or reading the cache)


class Speaker:
    """A synthesizer behind the cache, one synthesis at a time."""

    def __init__(self, synthesizer: Synthesizer, cache):
        self.synthesizer = synthesizer
        self.cache = cache
        self._busy = threading.Lock()
        self._waiting = threading.BoundedSemaphore(MAX_WAITING + 1)

    def problem(self) -> str | None:
        return self.synthesizer.problem()

    def speak(self, text: str, lang: str = "ja") -> Speech:
        start = time.perf_counter()
        key = self.cache.key(self.synthesizer.name, lang, text)
        wav = self.cache.get(key)
        if wav is not None:
            return Speech(wav, True, time.perf_counter() - start)
        if not self._waiting.acquire(blocking=False):
            raise SpeechError("speech is busy", "busy")
        try:
            if not self._busy.acquire(timeout=BUSY_WAIT_SECONDS):
                raise SpeechError("speech is busy", "busy")
            try:
                wav = self.cache.get(key)     # made by the request this one waited for
                if wav is not None:
                    return Speech(wav, True, time.perf_counter() - start)
                wav = self.synthesizer.synthesize(text)
                self.cache.put(key, wav)
            finally:
                self._busy.release()
        finally:
            self._waiting.release()
        return Speech(wav, False, time.perf_counter() - start)


def open_synthesizer(config) -> Synthesizer | None:
    engine = config.devices.speech
    if engine == "off":
        return None
    if engine == "simulated":
        from hardware.speech.simulated import SimulatedSynthesizer
        return SimulatedSynthesizer()
    from hardware.speech.openjtalk import OpenJTalk
    return OpenJTalk(dictionary=config.devices.speech_dictionary, voice=config.devices.speech_voice)


def open_speaker(config) -> Speaker | None:
    """The configured speaker with its cache, or None when speech is off."""
    synthesizer = open_synthesizer(config)
    if synthesizer is None:
        return None
    from hardware.speech.cache import SpeechCache
    return Speaker(synthesizer, SpeechCache(config.path(config.devices.speech_cache),
                                            max_bytes=int(config.devices.speech_cache_mb * 1024 * 1024)))


__all__ = ["open_speaker", "open_synthesizer", "Speaker", "Speech", "SpeechError", "Synthesizer",
           "ENGINES", "LANGUAGES", "MAX_CHARS"]
