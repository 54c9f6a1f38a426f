"""Where frames come from: a camera, a video file, a folder of images, or a simulator.

Every source follows the `FrameSource` protocol, so the scanner thread, `madoguchi scan`
and the tests treat them alike. `[devices].camera` chooses one (see `source_for_setting`):

    0, 1, "2"            a camera by index (V4L2 on Linux)
    "/dev/video0"        a camera by device path
    "rtsp://…", "http://…"  a network camera
    "clip.avi"           a video file (loops, played at its own frame rate)
    "frames/"            a folder of images, read in name order (loops)
    "code.png"           one image, shown again and again
    "none"               no camera
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from core.errors import MadoguchiError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mkv", ".mov", ".webm", ".mjpeg", ".mjpg", ".m4v", ".y4m"})


class CameraError(MadoguchiError):
    """The source cannot give frames: `camera_unavailable` (cannot open) or `camera_lost`."""

    code = "camera_unavailable"


@runtime_checkable
class FrameSource(Protocol):
    """A source of frames. `read` may block for up to about one frame interval."""

    name: str

    def open(self) -> None:
        """Start delivering frames; raise CameraError when the source is not there."""

    def read(self) -> np.ndarray | None:
        """The next frame (BGR or greyscale), None when a finite source has ended.

        Raises CameraError when the source went away (camera unplugged, folder removed).
        """

    def close(self) -> None:
        """Release the device or file; safe to call twice, and open() may follow."""


@contextlib.contextmanager
def _quiet_opencv():
    # OpenCV warns on stderr for every failed open; the scanner retries an absent camera
    # every few seconds and reports it once itself.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def _without_password(device: int | str) -> int | str:
    """A stream URL fit for logs: "rtsp://user:secret@host/x" → "rtsp://host/x"."""
    if isinstance(device, str) and "://" in device:
        from urllib.parse import urlsplit, urlunsplit
        parts = urlsplit(device)
        if parts.username or parts.password:
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port else host
            return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return device


class _Pacer:
    """Sleeps so that frames come no faster than `fps` (a file played like a live camera)."""

    def __init__(self, fps: float | None):
        self.interval = 1.0 / fps if fps and fps > 0 else 0.0
        self._next = 0.0

    def wait(self):
        if not self.interval:
            return
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
            now = self._next
        self._next = max(now, self._next) + self.interval


class DeviceCamera:
    """A live camera through OpenCV: a V4L2 index or device path, or a network stream URL."""

    def __init__(self, device: int | str, width: int = 1280, height: int = 720, fps: float = 30.0,
                 timeout_seconds: float = 5.0):
        self.device = device
        self.width, self.height, self.fps = width, height, fps
        self.timeout_ms = int(timeout_seconds * 1000)
        self.name = f"camera {_without_password(device)}"
        self._cap = None

    @property
    def is_stream(self) -> bool:
        return isinstance(self.device, str) and "://" in self.device

    def open(self) -> None:
        self.close()
        with _quiet_opencv():
            if self.is_stream:
                cap = cv2.VideoCapture(self.device, cv2.CAP_FFMPEG, [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms])
            else:
                backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
                cap = cv2.VideoCapture(self.device, backend)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open {self.name}", "camera_unavailable")
        if not self.is_stream:
            # Motion-JPEG lets USB webcams deliver 720p at full rate; a one-frame buffer keeps
            # what we decode current instead of a queue of stale frames.
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraError(f"{self.name} is not open", "camera_lost")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraError(f"{self.name} gave no frame", "camera_lost")
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoFile:
    """Frames of a video file. With `loop`, starts again at the end; with `realtime`, plays at
    the file's frame rate (as a camera would deliver them) instead of as fast as it decodes."""

    def __init__(self, path: str | Path, loop: bool = False, realtime: bool = False):
        self.path = Path(path)
        self.loop, self.realtime = loop, realtime
        self.name = f"video {self.path.name}"
        self._cap = None
        self._pacer = _Pacer(None)
        self.fps = 0.0

    def _open_capture(self):
        if not self.path.is_file():
            raise CameraError(f"no such video: {self.path.name}", "camera_unavailable")
        with _quiet_opencv():
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot read video {self.path.name}", "camera_unavailable")
        return cap

    def open(self) -> None:
        self.close()
        self._cap = self._open_capture()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else 15.0
        self._pacer = _Pacer(self.fps if self.realtime else None)

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise CameraError(f"{self.name} is not open", "camera_lost")
        self._pacer.wait()
        ok, frame = self._cap.read()
        if ok:
            return frame
        if not self.loop:
            return None
        # Reopening is the one way to rewind that works for every container and codec.
        self._cap.release()
        self._cap = None
        self._cap = self._open_capture()
        ok, frame = self._cap.read()
        if not ok:
            raise CameraError(f"{self.name} has no frames", "camera_lost")
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolder:
    """Images of a folder in name order (or one image file). With `loop`, the folder is listed
    again at the end, so images added meanwhile are seen; `fps` paces the frames."""

    def __init__(self, path: str | Path, loop: bool = False, fps: float | None = None):
        self.path = Path(path)
        self.loop = loop
        self.name = f"images {self.path.name}"
        self._pacer = _Pacer(fps)
        self._queue: list[Path] = []
        self._opened = False

    def _list(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            raise CameraError(f"no such folder: {self.path.name}",
                              "camera_lost" if self._opened else "camera_unavailable")
        return sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())

    def open(self) -> None:
        self._queue = self._list()
        self._opened = True

    def read(self) -> np.ndarray | None:
        if not self._opened:
            raise CameraError(f"{self.name} is not open", "camera_lost")
        while True:
            if not self._queue:
                if not self.loop:
                    return None
                self._queue = self._list()
                if not self._queue:
                    raise CameraError(f"no images in {self.name}", "camera_lost")
            image_path = self._queue.pop(0)
            frame = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
            if frame is not None:
                self._pacer.wait()
                return frame
            if not self.path.exists():  # the folder itself went away
                raise CameraError(f"{self.name} went away", "camera_lost")
            # A file removed or half-written since the listing: skip it.

    def close(self) -> None:
        self._queue = []
        self._opened = False


class VirtualCamera:
    """A camera that shows what it is told, for the embedded demo and tests.

    It shows an idle counter scene until `show_code(text)` holds a phone with that QR code up
    to it (or `show(frame)` shows any picture); `unplug()` and `plug()` imitate a USB camera
    pulled out and put back. Every read returns a copy of the current picture at `fps`.
    """

    def __init__(self, fps: float = 15.0, seed: int = 0):
        self.name = "virtual camera"
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._idle: np.ndarray | None = None
        self._plugged = True
        self._open = False
        self._pacer = _Pacer(fps)
        self.seed = seed

    def show(self, frame: np.ndarray | None) -> None:
        with self._lock:
            self._frame = None if frame is None else np.ascontiguousarray(frame)

    def show_code(self, text: str, shot=None) -> np.ndarray:
        """Hold up a phone showing `text` (a `testmedia.Shot` can place or degrade it)."""
        from hardware.camera import testmedia
        frame = testmedia.render(text, shot or testmedia.Shot(), seed=self.seed)
        self.show(frame)
        return frame

    def clear(self) -> None:
        self.show(None)

    def unplug(self) -> None:
        with self._lock:
            self._plugged = False

    def plug(self) -> None:
        with self._lock:
            self._plugged = True

    def open(self) -> None:
        with self._lock:
            if not self._plugged:
                raise CameraError("virtual camera unplugged", "camera_unavailable")
            self._open = True

    def read(self) -> np.ndarray:
        self._pacer.wait()
        with self._lock:
            if not self._plugged or not self._open:
                self._open = False
                raise CameraError("virtual camera unplugged", "camera_lost")
            if self._frame is not None:
                return self._frame.copy()
        if self._idle is None:
            from hardware.camera import testmedia
            self._idle = testmedia.idle_frame(self.seed)
        return self._idle.copy()

    def close(self) -> None:
        with self._lock:
            self._open = False


def source_for_setting(value: int | str, base_dir: Path | None = None, *, live: bool = True) -> FrameSource | None:
    """The source `[devices].camera` names, or None for "none".

    With `live`, files behave like a camera: videos and folders loop and play at their frame
    rate. Without it (`madoguchi scan`), each frame is read once, as fast as possible.
    """
    if isinstance(value, bool):
        raise CameraError("camera must be a device index, a path, a URL or \"none\"", "config_invalid")
    if isinstance(value, int):
        return DeviceCamera(value)
    text = str(value).strip()
    if text.lower() in ("", "none"):
        return None
    if text.isdigit():
        return DeviceCamera(int(text))
    if text.startswith("/dev/") or "://" in text:
        return DeviceCamera(text)
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    suffix = path.suffix.lower()
    if path.is_dir() or (not path.exists() and not suffix):
        return ImageFolder(path, loop=live, fps=10.0 if live else None)
    if suffix in IMAGE_SUFFIXES:
        return ImageFolder(path, loop=live, fps=10.0 if live else None)
    return VideoFile(path, loop=live, realtime=live)


def source_from_config(config) -> FrameSource | None:
    """The camera of `[devices].camera`; relative paths are against the config's base dir."""
    return source_for_setting(config.devices.camera, config.base_dir)
