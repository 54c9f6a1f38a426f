"""The scanner thread: reads frames, decodes QR codes, hands each new code over once.

    scanner = open_scanner(config)          # starts the thread (or not, for camera = "none")
    event = scanner.events.get()            # {"type": "code", "text": "...", "at": 1712345678.9}
    scanner.stop()

Events (small dicts on `scanner.events`, a queue.Queue):
    {"type": "code", "text": str, "at": float}       a code not seen in the last dedupe_seconds
    {"type": "hint", "hint": "closer", "at": float}  a code is in view but cannot be read
    {"type": "camera", "state": "ok" | "lost" | "ended", "at": float}   on changes only

A code the decoder cannot read in one frame (a glare over it) is read from the last few
frames combined (hardware.camera.combine); a text without a check of its own that one
engine read is handed over once it is read again in the next frame.

The thread never holds the GIL for long (OpenCV and zxing-cpp release it), reconnects with
backoff when the camera goes away, and `stop()` joins it. Code texts are secrets (a
pre-registration token holds its decryption key): they are never logged.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from hardware.camera.combine import FrameStack
from hardware.camera.decode import DecodeResult, QrDecoder, to_grey
from hardware.camera.frames import CameraError, FrameSource, source_from_config

log = logging.getLogger("madoguchi.camera")

EVENT_QUEUE_SIZE = 256  # past this, the oldest event is dropped (nobody is listening)


class Scanner:
    """Decodes frames from `source` on a background thread (none when source is None).

    `inject(text)` delivers a code as if the camera had read it: the embedded default has no
    camera, and demos and tests scan that way.
    """

    def __init__(self, source: FrameSource | None, *, dedupe_seconds: float = 5.0,
                 events: queue.Queue | None = None, decoder: QrDecoder | None = None,
                 hint_interval: float = 3.0, backoff_initial: float = 0.5, backoff_max: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.dedupe_seconds = float(dedupe_seconds)
        self.events: queue.Queue = events if events is not None else queue.Queue(EVENT_QUEUE_SIZE)
        self.decoder = decoder or QrDecoder()
        self.hint_interval = hint_interval
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._clock = clock
        self._lock = threading.Lock()
        self._last_seen: dict[str, float] = {}
        self._last_hint = float("-inf")
        self._last_code = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.camera_state = "none" if source is None else "starting"
        # Figures for a status page and the bench.
        self.frames = 0
        self.decode_seconds = 0.0
        self.reconnects = 0
        self._backoff = backoff_initial
        self._stack = FrameStack()
        self._unconfirmed: set[str] = set()  # read by one engine in the previous frame

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> Scanner:
        if self.source is not None and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="madoguchi-scanner", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread and release the camera; True when it has ended within `timeout`."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- codes --------------------------------------------------------------------------------

    def inject(self, text: str, *, dedupe: bool = True) -> bool:
        """Deliver `text` as a scanned code; False when de-duplicated away."""
        return self._deliver(text, dedupe=dedupe)

    def forget(self, text: str | None = None) -> None:
        """Let `text` (or every code) be delivered again at once, e.g. when the visitor's
        session ended and the next one shows the same code, or after a failed fetch."""
        with self._lock:
            if text is None:
                self._last_seen.clear()
            else:
                self._last_seen.pop(text, None)

    def status(self) -> dict:
        return {"camera": self.camera_state, "source": getattr(self.source, "name", None),
                "frames": self.frames, "reconnects": self.reconnects,
                "decode_ms": round(1000 * self.decode_seconds / self.frames, 2) if self.frames else None}

    def _put(self, event: dict) -> None:
        event["at"] = time.time()
        while True:
            try:
                self.events.put_nowait(event)
                return
            except queue.Full:
                try:
                    self.events.get_nowait()
                except queue.Empty:
                    pass

    def _deliver(self, text: str, dedupe: bool = True) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last_seen.get(text)
            # Sliding window: a code held in view stays "seen" and is handed over once.
            self._last_seen[text] = now
            if dedupe and last is not None and now - last < self.dedupe_seconds:
                return False
            if len(self._last_seen) > 64:
                horizon = now - self.dedupe_seconds
                self._last_seen = {t: s for t, s in self._last_seen.items() if s >= horizon}
        self._put({"type": "code", "text": text})
        return True

    def _set_camera_state(self, state: str) -> None:
        if state == self.camera_state:
            return
        previous, self.camera_state = self.camera_state, state
        if state == "lost":
            log.warning("%s: camera lost", getattr(self.source, "name", "camera"))
        elif previous == "lost":
            log.info("%s: camera back", getattr(self.source, "name", "camera"))
        self._put({"type": "camera", "state": state})

    # --- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        source = self.source
        self._backoff = self.backoff_initial
        while not self._stop.is_set():
            ended = False
            try:
                source.open()
                ended = self._read_until_stopped(source)
            except CameraError:
                self._set_camera_state("lost")
            except Exception:  # an OpenCV or OS error we did not foresee: report, keep trying
                log.exception("%s: camera failed", source.name)
                self._set_camera_state("lost")
            finally:
                try:
                    source.close()
                except Exception:
                    log.exception("%s: close failed", source.name)
            if ended:
                self._set_camera_state("ended")
                return
            if not self._stop.is_set():
                self.reconnects += 1
                self._stop.wait(self._backoff)
                self._backoff = min(self._backoff * 2, self.backoff_max)

    def _read_until_stopped(self, source: FrameSource) -> bool:
        """Decode frames until stopped (False) or the source ends (True)."""
        while not self._stop.is_set():
            frame = source.read()
            if frame is None:
                return True
            if self.camera_state != "ok":
                # "ok" once frames flow, not merely once the device opened.
                self._set_camera_state("ok")
                self._backoff = self.backoff_initial
            started = time.perf_counter()
            result, texts = self.read_frame(frame)
            self.decode_seconds += time.perf_counter() - started
            self.frames += 1
            now = self._clock()
            for text in texts:
                self._last_code = now
                self._deliver(text)
            # Hint at most every hint_interval, and not just after a code was read (a code
            # moving out of view is often unreadable for a frame or two).
            if (result.hint and not texts and now - self._last_hint >= self.hint_interval
                    and now - self._last_code >= self.hint_interval):
                self._last_hint = now
                self._put({"type": "hint", "hint": result.hint})
        return False

    def read_frame(self, frame) -> tuple[DecodeResult, list[str]]:
        """Decode one frame in the light of the previous ones: (this frame's result, the texts
        to hand over)."""
        result = self.decoder.decode(frame)
        texts = list(result.texts)
        unconfirmed = list(result.unconfirmed)
        if not texts and result.regions:
            self._stack.add(to_grey(frame), result.regions[0])
            for combined in self._stack.combined():
                again = self.decoder.decode_region(combined)
                unconfirmed += again.unconfirmed
                if again.texts:
                    texts = list(again.texts)
                    break
        if not result.regions:
            self._stack.clear()  # read at once, or no code in view any more
        # Read by one engine in this frame and the one before: two reads agree.
        texts += [t for t in dict.fromkeys(unconfirmed) if t in self._unconfirmed and t not in texts]
        self._unconfirmed = set(unconfirmed)
        return result, texts


def open_scanner(config, *, events: queue.Queue | None = None, start: bool = True) -> Scanner:
    """The scanner for `[devices].camera` (no thread for "none": `inject` still works)."""
    scanner = Scanner(source_from_config(config), dedupe_seconds=config.devices.camera_dedupe_seconds,
                      events=events)
    return scanner.start() if start else scanner
