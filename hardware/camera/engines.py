"""The QR decoders we can call, each as `name(grey) -> list of texts`, QR codes only.

zxing-cpp is the fast first pass on every frame; zbar and OpenCV's two detectors read some
codes in hard light (glare, tilt, low contrast) that zxing does not, at 10–40× its cost, so
`decode.QrDecoder` calls them only once a code is known to be in view. `bench/camera_light.py`
measures each alone and their union through the same functions.
"""
from __future__ import annotations

import threading

import cv2
import numpy as np
import zxingcpp

# Standard (Model 2) QR only. Since zxing-cpp 3, `QRCode` names the whole family, Micro QR
# and rMQR included, and a blurred QR's finder pattern then reads now and then as a Micro QR
# of a few random digits (M1 has no error correction to refuse it). zxing-cpp 2 has no
# `QRCodeModel2`, and its `QRCode` is Model 1 and 2 only.
QR_ONLY = getattr(zxingcpp.BarcodeFormat, "QRCodeModel2", zxingcpp.BarcodeFormat.QRCode)

try:  # libzbar0 (Debian) + pyzbar; the scanner works without, a little less well in hard light
    from pyzbar import pyzbar as _pyzbar
    _ZBAR_QR = [_pyzbar.ZBarSymbol.QRCODE]
except (ImportError, OSError):  # OSError: pyzbar installed, libzbar missing
    _pyzbar = None


def zxing(grey: np.ndarray, **options) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(grey, formats=QR_ONLY, **options) if b.valid]


def zbar(grey: np.ndarray) -> list[str]:
    if _pyzbar is None:
        return []
    texts = []
    for symbol in _pyzbar.decode(np.ascontiguousarray(grey), symbols=_ZBAR_QR):
        try:
            texts.append(symbol.data.decode("utf-8"))
        except UnicodeDecodeError:
            continue  # zbar guessed another encoding; zxing reads such codes itself
    return texts


# OpenCV's detectors keep state while they run: one per thread.
_local = threading.local()


def _detector(kind: str):
    detector = getattr(_local, kind, None)
    if detector is None:
        detector = cv2.QRCodeDetectorAruco() if kind == "aruco" else cv2.QRCodeDetector()
        setattr(_local, kind, detector)
    return detector


def opencv(grey: np.ndarray) -> list[str]:
    try:
        text, _, _ = _detector("classic").detectAndDecode(grey)
    except cv2.error:
        return []
    return [text] if text else []


def opencv_aruco(grey: np.ndarray) -> list[str]:
    if not hasattr(cv2, "QRCodeDetectorAruco"):
        return []
    try:
        text, _, _ = _detector("aruco").detectAndDecode(grey)
    except cv2.error:
        return []
    return [text] if text else []


def available() -> dict[str, object]:
    """The engines installed here, by name (zbar and the ArUco detector are optional)."""
    engines = {"zxing-cpp": zxing, "opencv": opencv}
    if hasattr(cv2, "QRCodeDetectorAruco"):
        engines["opencv-aruco"] = opencv_aruco
    if _pyzbar is not None:
        engines["zbar"] = zbar
    return engines
