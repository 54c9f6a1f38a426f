"""Camera QR scanning: frames from OpenCV, QR decoding (zxing-cpp on every frame; zbar and
OpenCV's detectors once a code is in view but unread), a scanner thread.

    from hardware.camera import open_scanner
    scanner = open_scanner(config)     # [devices].camera: index, /dev path, URL, video, folder, "none"
    event = scanner.events.get()       # {"type": "code", "text": ...} | {"type": "hint", "hint": "closer"}
                                       # | {"type": "camera", "state": "ok" | "lost" | "ended"}
    scanner.inject("MDGF1:…")          # a scan without a camera (demo, tests)
    scanner.stop()

`hardware.camera.testmedia` makes synthetic phone-screen frames and videos for tests, the
hard-light set (glare, tilt, low contrast) of bench/camera_light.py among them.
"""
import importlib

# Loaded on first use, so `madoguchi --help` (which imports hardware.camera.cli) does not
# pay for OpenCV.
_EXPORTS = {
    "DecodeResult": "decode", "QrDecoder": "decode", "decode_frame": "decode",
    "CameraError": "frames", "DeviceCamera": "frames", "FrameSource": "frames", "ImageFolder": "frames",
    "VideoFile": "frames", "VirtualCamera": "frames", "source_for_setting": "frames",
    "source_from_config": "frames",
    "Scanner": "scanner", "open_scanner": "scanner",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"hardware.camera.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'hardware.camera' has no attribute {name!r}")
