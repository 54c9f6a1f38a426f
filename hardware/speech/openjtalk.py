"""Open JTalk through Debian's `open_jtalk` binary (packages open-jtalk and
open-jtalk-mecab-naist-jdic), with an HTS voice file.

Debian bookworm's own voice (hts-voice-nitech-jp-atr503-m001) is in non-free; without it the
voice "Mei" that the pyopenjtalk wheel ships is used (CC BY 3.0, MMDAgent Project Team, Nagoya
Institute of Technology). pyopenjtalk is only looked up, never imported: importing it can start
a download of its dictionary, and the kiosk has no internet. Nothing here downloads anything.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from hardware.speech import SpeechError

DEBIAN_DICTIONARY = "/var/lib/mecab/dic/open-jtalk/naist-jdic"
DEBIAN_VOICE = "/usr/share/hts-voice/nitech-jp-atr503-m001/nitech_jp_atr503_m001.htsvoice"
TIMEOUT_SECONDS = 20
# Line breaks and control characters: open_jtalk would read each line as a text of its own.
_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def pyopenjtalk_voice() -> Path | None:
    """The voice file inside the installed pyopenjtalk package, found without importing it."""
    try:
        spec = importlib.util.find_spec("pyopenjtalk")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "htsvoice" / "mei_normal.htsvoice"
        if path.is_file():
            return path
    return None


def find_voice(setting: str = "") -> Path | None:
    """[devices].speech_voice when set; else Debian's voice, else pyopenjtalk's."""
    if setting:
        return Path(setting)
    if Path(DEBIAN_VOICE).is_file():
        return Path(DEBIAN_VOICE)
    return pyopenjtalk_voice()


class OpenJTalk:
    name = "openjtalk"

    def __init__(self, dictionary: str = DEBIAN_DICTIONARY, voice: str = "", binary: str = "open_jtalk"):
        self.binary = shutil.which(binary)
        self.dictionary = Path(dictionary or DEBIAN_DICTIONARY)
        self.voice = find_voice(voice)
        # The voice's identity is part of the cache key: another voice never answers from the cache.
        self.name = f"openjtalk:{self.voice.name if self.voice else ''}"

    def problem(self) -> str | None:
        if not self.binary:
            return "open_jtalk is not installed (Debian package open-jtalk)"
        if not (self.dictionary / "sys.dic").is_file():
            return f"no Open JTalk dictionary in {self.dictionary} (Debian package open-jtalk-mecab-naist-jdic)"
        if self.voice is None:
            return "no HTS voice: set [devices].speech_voice, or install pyopenjtalk (its voice Mei is used)"
        if not self.voice.is_file():
            return f"the voice file {self.voice} does not exist"
        return None

    def synthesize(self, text: str) -> bytes:
        problem = self.problem()
        if problem:
            raise SpeechError(problem, "unavailable")
        line = _BREAKS.sub(" ", text).strip()
        if not line:
            raise SpeechError("nothing to say", "failed")
        with tempfile.TemporaryDirectory(prefix="madoguchi-speech-") as folder:   # 0700
            out = Path(folder) / "speech.wav"
            try:
                done = subprocess.run(
                    [self.binary, "-x", str(self.dictionary), "-m", str(self.voice), "-ow", str(out)],
                    input=(line + "\n").encode("utf-8"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    timeout=TIMEOUT_SECONDS, check=False)
            except subprocess.TimeoutExpired:
                raise SpeechError(f"open_jtalk took longer than {TIMEOUT_SECONDS} s", "failed") from None
            except OSError as e:
                raise SpeechError(f"cannot run open_jtalk: {e.strerror}", "unavailable") from None
            wav = out.read_bytes() if out.is_file() else b""
        if done.returncode != 0 or not wav.startswith(b"RIFF"):
            # Its message names files, never the text (which could be anything a client sent).
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
            raise SpeechError(f"open_jtalk failed (exit {done.returncode}) {' '.join(reason)}".strip(), "failed")
        return wav
