"""QR decoding: zxing-cpp on every frame, more engines and more work once a code is in view.

One zxing pass per frame on the greyscale image (about 2 ms at 1280×720 on an idle frame).
When it reads nothing, a cheap gate asks whether a code is there at all: zxing located one it
could not decode (`Barcode.valid` false), or the frame holds QR finder patterns (nested
squares, found on a half-size threshold image, about 1.5 ms). Only then do we spend more, on
a crop around the code: cheap zxing retries, then the hard-light cascade (glare flattened
away, contrast stretched, upscaled) through zxing, zbar and OpenCV's detectors. If all of
that fails, the result says so, and the kiosk asks the visitor to hold the code closer.

No wrong text: a pre-registration token is accepted only when its own check characters
match (core.tokens); a text without a check of its own (a form code, anything else) only
when two engines read the same text; otherwise it is `unconfirmed`, and the scanner waits
for the next frame to read it again.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import zxingcpp

from core.tokens import TokenError, decode_token, looks_like_token
from hardware.camera import engines as _engines
from hardware.camera.engines import QR_ONLY

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
    unconfirmed: tuple[str, ...] = field(default=(), repr=False)  # read once, no check of their own: not yet texts
    rejected: int = 0                 # token-like texts whose check characters did not match (misreads)

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


def check_of(text: str) -> str:
    """"valid": a token whose check characters match; "invalid": token-like but they do not
    (a misread, never handed over); "none": a text without a check of its own, or one we cannot
    check (a token of another version: the kiosk tells the visitor so)."""
    if not looks_like_token(text):
        return "none"
    try:
        decode_token(text)
    except TokenError as e:
        return "none" if e.code == "bad_version" else "invalid"
    return "valid"


class _Votes:
    """Texts read in one frame, and by which engines: decides which are accepted."""

    def __init__(self):
        self.by_text: dict[str, set[str]] = {}
        self.rejected = 0

    def add(self, texts, engine: str) -> None:
        """Record what `engine` read."""
        for text in texts:
            verdict = check_of(text)
            if verdict == "invalid":
                self.rejected += 1
                continue
            self.by_text.setdefault(text, set()).add(engine)

    def accepted(self) -> list[str]:
        return [t for t, seen in self.by_text.items() if check_of(t) == "valid" or len(seen) >= 2]

    def unconfirmed(self) -> list[str]:
        accepted = set(self.accepted())
        return [t for t in self.by_text if t not in accepted]


# --- the hard-light cascade --------------------------------------------------------------------

def _module_guess(crop: np.ndarray) -> float:
    """Module size in pixels if the crop holds one code of about 33 modules (version 4) with its margin."""
    return max(2.0, min(crop.shape) / 1.7 / 33)


def _flatten(crop: np.ndarray) -> np.ndarray:
    """Glare, veil and uneven light removed: each pixel's darkness below its neighbourhood's
    white (a black-hat over a few modules), stretched to full contrast."""
    k = int(3 * _module_guess(crop)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    dark = cv2.morphologyEx(cv2.GaussianBlur(crop, (0, 0), 0.8), cv2.MORPH_BLACKHAT, kernel)
    return 255 - cv2.normalize(dark, None, 0, 255, cv2.NORM_MINMAX)


def _bigger(image: np.ndarray) -> np.ndarray:
    if max(image.shape) > _MAX_UPSCALE_SIDE:
        return image
    return cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "crop": lambda crop: crop,
    "flatten": _flatten,
    "flatten_2x": lambda crop: _bigger(_flatten(crop)),
}

# (variant, engine), in the order tried after the cheap retries: zxing on the flattened crop,
# then the slower engines. On the hard-light set (bench/camera_light.py) the retries rescue
# most frames; CLAHE, a contrast stretch and more variants per engine rescued none more.
CASCADE: tuple[tuple[str, str], ...] = (
    ("flatten", "zxing-cpp"), ("flatten_2x", "zxing-cpp"), ("crop", "zbar"), ("flatten", "zbar"),
    ("crop", "opencv-aruco"), ("crop", "opencv"),
)

WHOLE_FRAME = ("opencv-aruco", "zbar")


def _engine(name: str) -> Callable[[np.ndarray], list[str]]:
    return _engines.available()[name]


# --- the gate: is a code in view? --------------------------------------------------------------

def finder_box(grey: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box around QR finder patterns (three nested squares' outlines) if two or more show,
    on a half-size image; None on a frame without a code (about 1.5 ms at 1280×720)."""
    small = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA)
    binary = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 21, 4)
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return None
    tree = hierarchy[0]
    child = tree[:, 2]
    # An outline with a child that has a child of its own: ring, gap, centre square.
    nested = np.flatnonzero((child >= 0) & (tree[np.maximum(child, 0), 2] >= 0))
    boxes = [b for b in (cv2.boundingRect(contours[i]) for i in nested)
             if b[2] >= 4 and b[3] >= 4 and 0.25 < b[2] / b[3] < 4]  # a tilted code squashes them
    if len(boxes) < 2:
        return None
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    if x1 - x0 > 4 * max(b[2] for b in boxes) * 3 or y1 - y0 > 4 * max(b[3] for b in boxes) * 3:
        return None  # patterns too far apart to be one code's
    return 2 * x0, 2 * y0, 2 * (x1 - x0), 2 * (y1 - y0)


class QrDecoder:
    """Decodes the QR codes in a frame. Keeps no state between frames; safe to share.

    `hard_light=False` keeps to zxing and its cheap retries (the figures of bench/kiosk.py);
    `engines` restricts the engines used (names as in engines.available()), e.g. to those of a
    machine without zbar."""

    def __init__(self, retries: bool = True, hard_light: bool = True, engines: tuple[str, ...] | None = None):
        self.retries = RETRIES if retries else ()
        self.cascade = CASCADE if hard_light else ()
        self.available = set(_engines.available()) if engines is None else set(engines) & set(_engines.available())

    def decode(self, image: np.ndarray) -> DecodeResult:
        grey = to_grey(image)
        found = _read(grey, return_errors=True)
        votes = _Votes()
        valid = [b for b in found if b.valid]
        votes.add([b.text for b in valid], "zxing-cpp")
        # A text without a check of its own needs a second engine's word: zbar on its crop.
        for b in valid:
            crop = _crop(grey, _box(b))
            for engine, variant in (("zbar", crop), ("zbar", 255 - crop), ("opencv-aruco", crop)):
                if b.text not in votes.unconfirmed():
                    break
                if engine in self.available:
                    votes.add(_engine(engine)(variant), engine)
        texts = votes.accepted()
        read_boxes = [_box(b) for b in valid]
        # An unreadable report where another pass did read the code is not worth retrying.
        failed = [_box(b) for b in found if not b.valid and not any(_overlaps(_box(b), r) for r in read_boxes)]
        failed = [b for b in failed if b[2] > 0 and b[3] > 0]
        located = bool(failed) or any(not b.valid for b in found)  # zxing may locate a code at 0×0
        if not failed and not valid and self.cascade:
            box = finder_box(grey)
            failed = [box] if box else []
            located = located or bool(failed)
        if not located:
            return DecodeResult(tuple(texts), unconfirmed=tuple(votes.unconfirmed()), rejected=votes.rejected)
        return self._rescue(grey, _merge(failed)[:_MAX_REGIONS], votes, whole_frame=bool(self.cascade))

    def decode_region(self, grey: np.ndarray) -> DecodeResult:
        """The cascade on a picture already cropped to one code (e.g. frames combined)."""
        h, w = grey.shape[:2]
        return self._rescue(grey, [(0, 0, w, h)], _Votes(), margin=0.0)

    def _rescue(self, grey, boxes, votes: _Votes, margin: float = 0.35, whole_frame: bool = False) -> DecodeResult:
        retry_used = None
        unreadable = []
        for box in boxes:
            if box[2] <= 0 or box[3] <= 0:
                continue
            crop = _crop(grey, box, margin) if margin else grey
            if crop.size == 0:
                continue
            before = set(votes.accepted())
            rescued = self._rescue_crop(crop, votes)
            if rescued:
                retry_used = retry_used or rescued
            if not set(votes.accepted()) - before:
                unreadable.append(box)
        if whole_frame and (unreadable or not boxes):
            # Last, zbar and the ArUco detector on the whole frame, as they run alone: what one of
            # them reads by itself, we read too. OpenCV's classic detector (40–100 ms on a whole
            # frame) runs on the crop only; on the hard-light set it read no frame we missed.
            # Which of two unreadable regions was read is not known: the first counts as read.
            known = len(votes.accepted())
            for engine in WHOLE_FRAME:
                if engine in self.available:
                    votes.add(_engine(engine)(grey), engine)
                    if len(votes.accepted()) > known:
                        retry_used = retry_used or f"frame/{engine}"
                        unreadable = unreadable[1:]
                        break
        return DecodeResult(tuple(votes.accepted()), len(unreadable), retry_used, tuple(unreadable),
                            tuple(votes.unconfirmed()), votes.rejected)

    def _rescue_crop(self, crop: np.ndarray, votes: _Votes) -> str | None:
        """Try the retries, then the cascade, on one crop; the name of the step that read it."""
        known = len(votes.accepted())
        for name, retry in self.retries:
            votes.add([b.text for b in retry(crop) if b.valid], "zxing-cpp")
            if len(votes.accepted()) > known:
                return name
        variants: dict[str, np.ndarray] = {}
        for variant, engine in self.cascade:
            if engine not in self.available:
                continue
            if variant not in variants:
                variants[variant] = VARIANTS[variant](crop)
            votes.add(_engine(engine)(variants[variant]), engine)
            if len(votes.accepted()) > known:
                return f"{variant}/{engine}"
        return None


_default = QrDecoder()


def decode_frame(image: np.ndarray) -> DecodeResult:
    """Decode one frame (BGR or greyscale numpy array) with the default decoder."""
    return _default.decode(image)
