"""Voice guidance figures: Open JTalk's synthesis time for a typical kiosk screen (the PIN
screen's words, in the parts the page sends), the same parts again from the cache, and the
seconds of speech made. Without Open JTalk installed it says so and measures the simulated voice.

    .venv/bin/python bench/speech.py
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
import wave
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hardware.speech import Speaker  # noqa: E402
from hardware.speech.cache import SpeechCache  # noqa: E402
from hardware.speech.openjtalk import OpenJTalk  # noqa: E402
from hardware.speech.simulated import SimulatedSynthesizer  # noqa: E402

# The PIN screen as kiosk/static/speech.js sends it (digits spelled in kanji there).
SCREEN = [
    "カードの暗証番号（数字四桁）を入力してください",
    "マイナンバーカード：券面事項入力補助用の暗証番号（数字四桁）です。",
    "あと三回入力できます。",
    "暗証番号を何回も間違えるとカードがロックされます。最後の一回はここでは使えません。職員がお手伝いします。",
    "やめる",
]


def seconds_of(wav: bytes) -> float:
    with wave.open(BytesIO(wav)) as w:
        return w.getnframes() / w.getframerate()


def main() -> None:
    synth = OpenJTalk()
    problem = synth.problem()
    if problem:
        print(f"Open JTalk cannot run here ({problem}): measuring the simulated voice instead")
        synth = SimulatedSynthesizer()
    print(f"engine: {synth.name}")
    with tempfile.TemporaryDirectory() as folder:
        speaker = Speaker(synth, SpeechCache(Path(folder) / "speech"))
        made, hits, audio = [], [], 0.0
        t = time.perf_counter()
        for text in SCREEN:
            s = speaker.speak(text)
            made.append(s.seconds * 1000)
            audio += seconds_of(s.wav)
        screen_ms = (time.perf_counter() - t) * 1000
        for _ in range(20):
            for text in SCREEN:
                hits.append(speaker.speak(text).seconds * 1000)
    print(f"PIN screen, {len(SCREEN)} parts, {sum(map(len, SCREEN))} characters → {audio:.1f} s of speech")
    print(f"synthesis: {screen_ms:.0f} ms for the screen; per part median {statistics.median(made):.0f} ms,"
          f" first part {made[0]:.0f} ms (what the visitor waits before hearing anything)")
    print(f"cache hit: median {statistics.median(hits):.2f} ms, max {max(hits):.2f} ms per part")


if __name__ == "__main__":
    main()
