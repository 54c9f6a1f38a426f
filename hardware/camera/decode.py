"""QR decoding with zxing-cpp, restricted to QR codes.

One zxing pass per frame on the greyscale image (about 2 ms at 1280×720 on an idle frame).
Only when zxing reports a QR it located but could not decode (`Barcode.valid` is false,
usually a Reed–Solomon checksum error) do we spend more: a few cheap retries on a crop
around that code. If those fail too, the result says so, and the kiosk asks the visitor
to hold the code closer.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import zxingcpp

# Standard (Model 2) QR only. Since zxing-cpp 3, `QRCode` names the whole family, Micro QR
# and rMQR included, and a blurred QR's finder pattern then reads now and then as a Micro QR
# of a few random digits (M1 has no error correction to refuse it). zxing-cpp 2 has no
# `QRCodeModel2`, and its `QRCode` is Model 1 and 2 only.
QR_ONLY = getattr(zxingcpp.BarcodeFormat, "QRCodeModel2", zxingcpp.BarcodeFormat.QRCode)
HINT_CLOSER = "closer"

# Crops larger than this (longest side, pixels) are not upscaled: upscaling helps small,
# soft codes, and a big crop would cost more than a frame's budget.
_MAX_UPSCALE_SIDE = 480
_MAX_REGIONS = 2  # unreadable codes retried per frame


@dataclass(frozen=True)
class DecodeResult:
    """What one frame showed."""

    texts: tuple[str, ...] = ()       # decoded QR texts, each once, in the order found
    unreadable: int = 0               # QR codes located but not decoded, even after the retries
    retry: str | None = None          # the retry that decoded a code, if the first pass did not
    regions: tuple[tuple[int, int, int, int], ...] = field(default=(), repr=False)  # x, y, w, h of unreadable codes

    @property
    def hint(self) -> str | None:
        """"closer" when a code was seen but could not be read (too small, soft or glared)."""
        return HINT_CLOSER if self.unreadable and not self.texts else None


def to_grey(image: np.ndarray) -> np.ndarray:
    """A greyscale view of a BGR, BGRA or greyscale frame (zxing is fastest on one channel)."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _read(image: np.ndarray, **options) -> list:
    return zxingcpp.read_barcodes(image, formats=QR_ONLY, **options)


def _upscale(factor: float):
    def retry(crop):
        if max(crop.shape) > _MAX_UPSCALE_SIDE:
            return []
        return _read(cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC))
    return retry


def _sharpen(crop):
    # Unsharp mask: restores module edges a slightly defocused camera smeared.
    soft = cv2.GaussianBlur(crop, (0, 0), 2.0)
    return _read(cv2.addWeighted(crop, 2.0, soft, -1.0, 0))


def _adaptive_threshold(crop):
    # A threshold from a wider neighbourhood than zxing's own, for uneven light and glare.
    block = max(15, (min(crop.shape) // 10) | 1)
    return _read(cv2.adaptiveThreshold(crop, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 3))


def _global_histogram(crop):
    return _read(crop, binarizer=zxingcpp.Binarizer.GlobalHistogram)


# In the order tried: on the degraded set of bench/kiosk.py the adaptive threshold rescues
# most (soft focus, uneven light), then sharpening, then upscaling (small codes).
RETRIES: tuple[tuple[str, Callable], ...] = (
    ("adaptive_threshold", _adaptive_threshold),
    ("sharpen", _sharpen),
    ("upscale_1.5", _upscale(1.5)),
    ("upscale_2", _upscale(2.0)),
    ("global_histogram", _global_histogram),
)


def _box(barcode) -> tuple[int, int, int, int]:
    p = barcode.position
    xs = (p.top_left.x, p.top_right.x, p.bottom_right.x, p.bottom_left.x)
    ys = (p.top_left.y, p.top_right.y, p.bottom_right.y, p.bottom_left.y)
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def _overlaps(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _merge(boxes):
    """zxing may report one unreadable code several times (once per pass): one box each."""
    merged: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        for i, m in enumerate(merged):
            if _overlaps(box, m):
                x0, y0 = min(box[0], m[0]), min(box[1], m[1])
                x1, y1 = max(box[0] + box[2], m[0] + m[2]), max(box[1] + box[3], m[1] + m[3])
                merged[i] = (x0, y0, x1 - x0, y1 - y0)
                break
        else:
            merged.append(box)
    return merged


def _crop(grey: np.ndarray, box, margin: float = 0.35) -> np.ndarray:
    x, y, w, h = box
    m = int(margin * max(w, h)) + 8  # room for the quiet zone around the located corners
    height, width = grey.shape
    return grey[max(0, y - m):min(height, y + h + m), max(0, x - m):min(width, x + w + m)]


class QrDecoder:
    """Decodes the QR codes in a frame. Keeps no state between frames; safe to share."""

    def __init__(self, retries: bool = True):
        self.retries = RETRIES if retries else ()

    def decode(self, image: np.ndarray) -> DecodeResult:
        grey = to_grey(image)
        found = _read(grey, return_errors=True)
        valid = [b for b in found if b.valid]
        texts = list(dict.fromkeys(b.text for b in valid))
        # An unreadable report where another pass did read the code is not worth retrying.
        read_boxes = [_box(b) for b in valid]
        failed = [b for b in found if not b.valid and not any(_overlaps(_box(b), r) for r in read_boxes)]
        if not failed:
            return DecodeResult(tuple(texts))

        retry_used = None
        unreadable = []
        for box in _merge([_box(b) for b in failed])[:_MAX_REGIONS]:
            if box[2] <= 0 or box[3] <= 0:
                continue
            crop = _crop(grey, box)
            if crop.size == 0:
                continue
            rescued = None
            for name, retry in self.retries:
                rescued = next((b.text for b in retry(crop) if b.valid), None)
                if rescued is not None:
                    retry_used = retry_used or name
                    break
            if rescued is None:
                unreadable.append(box)
            elif rescued not in texts:
                texts.append(rescued)
        return DecodeResult(tuple(texts), len(unreadable), retry_used, tuple(unreadable))


_default = QrDecoder()


def decode_frame(image: np.ndarray) -> DecodeResult:
    """Decode one frame (BGR or greyscale numpy array) with the default decoder."""
    return _default.decode(image)
