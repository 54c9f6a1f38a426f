"""A synthesizer for tests and demos without Open JTalk: a soft tone as long as the text
would take to read (about 8 characters a second, at most 4 s), as a real WAV."""
from __future__ import annotations

import io
import math
import struct
import wave

from hardware.speech import SpeechError

RATE = 16000


class SimulatedSynthesizer:
    name = "simulated"

    def __init__(self):
        self.made = 0          # how many times it synthesized (a cache hit does not count)

    def problem(self) -> str | None:
        return None

    def synthesize(self, text: str) -> bytes:
        if not text.strip():
            raise SpeechError("nothing to say", "failed")
        self.made += 1
        seconds = min(4.0, 0.3 + len(text.strip()) / 8)
        frames = int(RATE * seconds)
        tone = bytearray()
        for i in range(frames):
            fade = min(1.0, i / 800, (frames - i) / 800)
            tone += struct.pack("<h", int(3000 * fade * math.sin(2 * math.pi * 440 * i / RATE)))
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(bytes(tone))
        return buf.getvalue()
