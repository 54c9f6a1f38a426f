"""Synthetic camera material: a phone screen showing a QR code, held up to the kiosk camera.

Tests, `bench/kiosk.py` and the kiosk's browser tests use these instead of committed
binaries. A frame is a plain 1280×720 BGR `numpy` array; each degradation is a parameter of
`Shot`, modelled on what goes wrong at a real counter:

- focus blur and hand motion blur,
- the phone tilted away from the camera (perspective) and rolled in the image plane,
- moiré: the screen's pixel grid beating against the camera's sensor grid,
- glare: a ceiling light reflected in the phone's glass,
- low contrast: a dimmed screen or a bright room,
- a small code (the phone held far away), sensor noise and JPEG artefacts.

`make_phone_video(path, text)` writes a short video of a visitor holding the phone up, which
can be the kiosk's `[devices].camera` in a test.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import segno

FRAME_SIZE = (1280, 720)  # width, height
FOCAL_PX = 1000.0         # a webcam of about 65° horizontal field of view at 1280 px

_FOURCC_BY_SUFFIX = {".avi": "MJPG", ".mp4": "mp4v", ".mkv": "MJPG"}


@dataclass(frozen=True)
class Shot:
    """How the phone appears in one frame. The defaults are a good, steady shot."""

    qr_width: float = 150.0                # width of the code (without quiet zone) in frame pixels
    center: tuple[float, float] = (640.0, 380.0)  # where the code's centre lands in the frame
    roll: float = 0.0                      # in-plane rotation, degrees
    tilt_x: float = 0.0                    # top edge tipped away from the camera, degrees
    tilt_y: float = 0.0                    # right edge tipped away from the camera, degrees
    blur: float = 0.0                      # focus blur, Gaussian sigma in pixels
    motion: float = 0.0                    # motion blur length in pixels
    motion_angle: float = 0.0              # direction of that motion, degrees
    glare: float = 0.0                     # 0…1: strength of a reflected light over the code
    glare_offset: tuple[float, float] = (0.15, -0.1)  # its centre, in code widths from the code's centre
    moire: float = 0.0                     # 0…1: strength of the screen pixel grid
    contrast: float = 1.0                  # 1 = black on white; 0.25 = grey on light grey
    brightness: float = 1.0                # screen white level, 1 = full
    noise: float = 2.0                     # sensor noise, Gaussian sigma in grey levels
    jpeg: int | None = None                # JPEG quality the camera compressed with
    dark_mode: bool = False                # light code on a dark screen
    glare_shape: str = "streak"            # "streak" (a tube light) or "spot" (a downlight, hard-edged)
    glare_size: float = 1.0                # scale of the glare, 1 = as wide as about half the code
    veil: float = 0.0                      # 0…1: the room reflected evenly over the glass (greys the screen)
    error: str = "m"                       # the code's error correction level (a phone token is "q")


def sample_token() -> str:
    """A real pre-registration token (core.tokens): what a resident's phone shows."""
    from core.application import new_application_id
    from core.tokens import KEY_BYTES, encode_token
    return encode_token(new_application_id(), secrets.token_bytes(KEY_BYTES))


def sample_form_code() -> str:
    """The code printed on a form: "MDGF1:" + a 16-character application id."""
    from core.application import form_code, new_application_id
    return form_code(new_application_id())


def qr_modules(text: str, error: str = "m") -> np.ndarray:
    """The code's module matrix (1 = dark), without quiet zone."""
    return np.array(segno.make(text, error=error, micro=False).matrix, dtype=np.uint8)


def qr_image(text: str, module_px: int = 8, border: int = 4, error: str = "m") -> np.ndarray:
    """A clean greyscale picture of the code, as printed or shown on a screen."""
    modules = np.pad(qr_modules(text, error), border)
    img = np.where(modules == 1, 0, 255).astype(np.uint8)
    return cv2.resize(img, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)


# --- the scene behind the phone ---------------------------------------------------------------

def scene(seed: int = 0, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """What the kiosk camera sees with nobody showing a code: wall, posters, counter, a person."""
    w, h = size
    rng = np.random.default_rng(seed)
    wall_top = np.array([214, 222, 228], float) + rng.uniform(-15, 15, 3)
    wall_bottom = wall_top * 0.8
    t = np.linspace(0, 1, h)[:, None, None]
    img = (wall_top * (1 - t) + wall_bottom * t) * np.ones((1, w, 1))
    img = np.ascontiguousarray(img.astype(np.uint8))  # OpenCV draws text on 8-bit images only

    # Posters with a coloured header and lines of text.
    for _ in range(rng.integers(2, 4)):
        pw, ph = int(rng.integers(140, 260)), int(rng.integers(180, 320))
        x, y = int(rng.integers(0, w - pw)), int(rng.integers(10, h // 2))
        cv2.rectangle(img, (x, y), (x + pw, y + ph), (245, 245, 240), -1)
        colour = tuple(float(c) for c in rng.integers(40, 200, 3))
        cv2.rectangle(img, (x, y), (x + pw, y + ph // 5), colour, -1)
        for line in range(6):
            ly = y + ph // 5 + 22 + line * 22
            if ly > y + ph - 10:
                break
            words = "".join(rng.choice(list("ABCDEFGHIJKLMNOPRSTUW 0123456789"), int(pw / 11)))
            cv2.putText(img, words, (x + 8, ly), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)

    # A visitor: head and shoulders, partly out of view.
    px = int(rng.integers(w // 4, 3 * w // 4))
    skin = (150 + rng.uniform(-30, 30), 175 + rng.uniform(-30, 30), 215 + rng.uniform(-30, 20))
    clothes = tuple(float(c) for c in rng.integers(20, 120, 3))
    cv2.ellipse(img, (px, int(h * 0.95)), (int(w * 0.2), int(h * 0.35)), 0, 180, 360, clothes, -1)
    cv2.ellipse(img, (px, int(h * 0.45)), (75, 95), 0, 0, 360, skin, -1)
    cv2.ellipse(img, (px, int(h * 0.38)), (80, 70), 0, 180, 360, (30, 30, 35), -1)  # hair

    # The counter top along the bottom, with wood grain.
    top = int(h * 0.82)
    grain = rng.normal(0, 6, (1, w)) + np.sin(np.arange(w) / rng.uniform(8, 20)) * 5
    img[top:] = np.clip(np.array([60, 95, 140], np.float32) + grain[..., None], 0, 255).astype(np.uint8)
    cv2.line(img, (0, top), (w, top), (40, 60, 90), 3)

    # Lens: slight softness and vignetting.
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.8)
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    img *= (1 - 0.18 * r2)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


# --- the phone --------------------------------------------------------------------------------

def _phone_canvas(text: str, module_px: int, shot: Shot):
    """The phone face at high resolution: (BGR float image, alpha mask, code rectangle)."""
    code = qr_image(text, module_px=module_px, border=4, error=shot.error)
    n = code.shape[0]
    screen_w = int(n / 0.68)
    screen_h = int(screen_w * 2.05)
    bezel = max(4, int(screen_w * 0.045))
    W, H = screen_w + 2 * bezel, screen_h + 2 * bezel

    paper, ink, accent = (255.0, 255.0, 255.0), (20.0, 20.0, 20.0), (138.0, 78.0, 26.0)
    if shot.dark_mode:
        paper, ink, accent = (18.0, 18.0, 18.0), (235.0, 235.0, 235.0), (230.0, 170.0, 110.0)
    screen = np.empty((screen_h, screen_w, 3), np.uint8)  # OpenCV draws text on 8-bit images only
    screen[:] = paper
    s = screen_w / 400  # text scale: the layout is designed for a 400 px wide screen
    cv2.putText(screen, "9:41", (int(16 * s), int(22 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * s, ink, max(1, int(s)),
                cv2.LINE_AA)
    cv2.rectangle(screen, (0, int(34 * s)), (screen_w, int(90 * s)), accent, -1)
    cv2.putText(screen, "Madoguchi", (int(20 * s), int(72 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.9 * s, paper,
                max(1, int(2 * s)), cv2.LINE_AA)
    cv2.putText(screen, "Show this code at the kiosk", (int(20 * s), int(128 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * s,
                ink, max(1, int(s)), cv2.LINE_AA)
    top, left = int(150 * s), (screen_w - n) // 2
    tile = np.where(code > 128, paper[0], ink[0]).astype(np.uint8)
    screen[top:top + n, left:left + n] = tile[..., None]
    for i, line in enumerate(("Reception no. 0042", "Valid until 2025-12-31")):
        cv2.putText(screen, line, (int(20 * s), top + n + int((40 + 30 * i) * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.55 * s,
                    ink, max(1, int(s)), cv2.LINE_AA)
    cv2.rectangle(screen, (int(20 * s), screen_h - int(90 * s)), (screen_w - int(20 * s), screen_h - int(40 * s)),
                  accent, -1)

    # Screen: contrast and brightness as the panel shows them.
    white = 255.0 * shot.brightness
    black = white * (1 - shot.contrast)
    screen = black + (white - black) * screen.astype(np.float32) / 255.0

    if shot.moire > 0:
        # The panel's sub-pixel grid; its period sits just above the camera's pixel pitch, so
        # resampling it to the frame leaves the slow beat bands a camera shows as moiré.
        yy, xx = np.mgrid[0:screen_h, 0:screen_w].astype(np.float32)
        period = 2.15
        for ch, phase in enumerate((0.0, 2.1, 4.2)):
            grid = (0.5 + 0.5 * np.cos(2 * np.pi * xx / period + phase)) * (0.5 + 0.5 * np.cos(2 * np.pi * yy / period))
            screen[..., ch] *= 1 - shot.moire * (1 - grid)

    face = np.empty((H, W, 3), np.float32)
    face[:] = (25, 25, 28)
    face[bezel:bezel + screen_h, bezel:bezel + screen_w] = screen
    alpha = np.zeros((H, W), np.float32)
    radius = int(W * 0.12)
    cv2.rectangle(alpha, (radius, 0), (W - radius, H), 1.0, -1)
    cv2.rectangle(alpha, (0, radius), (W, H - radius), 1.0, -1)
    for cx, cy in ((radius, radius), (W - radius, radius), (radius, H - radius), (W - radius, H - radius)):
        cv2.circle(alpha, (cx, cy), radius, 1.0, -1, cv2.LINE_AA)
    quiet = 4 * module_px
    code_rect = (bezel + left + quiet, bezel + top + quiet, n - 2 * quiet)  # x, y, side of the modules
    return face, alpha, code_rect


def _project(points: np.ndarray, shot: Shot, origin: tuple[float, float], scale: float, size) -> np.ndarray:
    """Canvas points → frame pixels through a pinhole camera, the phone tilted and rolled."""
    ax, ay, az = (math.radians(a) for a in (shot.tilt_x, shot.tilt_y, shot.roll))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    plane = np.c_[(points - origin) * scale, np.zeros(len(points))]
    p = plane @ (rz @ ry @ rx).T + [0, 0, FOCAL_PX]
    # Tilting pivots about the code's centre; a positive tilt_x moves the top edge away (larger z).
    return np.c_[shot.center[0] + FOCAL_PX * p[:, 0] / p[:, 2], shot.center[1] + FOCAL_PX * p[:, 1] / p[:, 2]]


def render(text: str, shot: Shot = Shot(), background: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """One camera frame (BGR, 1280×720 or the background's size) of the phone showing `text`."""
    rng = np.random.default_rng(seed)
    frame = (scene(seed) if background is None else background).astype(np.float32)
    h, w = frame.shape[:2]
    modules = qr_modules(text, shot.error).shape[0]
    # Render the phone at about twice the frame's resolution, then let the warp sample it down.
    module_px = max(2, round(2 * shot.qr_width / modules))
    face, alpha, (qx, qy, qside) = _phone_canvas(text, module_px, shot)
    if shot.moire == 0:
        face = cv2.GaussianBlur(face, (0, 0), 0.5)  # anti-alias: no grid, no beat
    scale = shot.qr_width / qside
    origin = (qx + qside / 2, qy + qside / 2)
    fh, fw = face.shape[:2]
    corners = np.array([[0, 0], [fw, 0], [fw, fh], [0, fh]], float)
    dest = _project(corners, shot, origin, scale, (w, h))
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), dest.astype(np.float32))

    # A hand holding the phone from below, behind it.
    bottom = (dest[2] + dest[3]) / 2
    hand_w = int(np.linalg.norm(dest[2] - dest[3]) * 0.7)
    cv2.ellipse(frame, (int(bottom[0]), int(bottom[1])), (max(hand_w, 4), max(hand_w, 4) * 2 // 3),
                shot.roll, 0, 360, (140, 165, 205), -1, cv2.LINE_AA)

    warped = cv2.warpPerspective(face, matrix, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(alpha, matrix, (w, h), flags=cv2.INTER_LINEAR)

    if shot.glare > 0:
        warped += (shot.glare * 300 * _glare_blob(shot, w, h))[..., None]
    if shot.veil > 0:
        warped += shot.veil * (235.0 - warped)  # lifts the blacks, leaves white as it was

    # Focus and motion blur belong to the phone (close to the lens, moving), not the room:
    # blur the phone layer premultiplied by its mask, then lay it over the scene.
    layer = warped * mask[..., None]
    if shot.blur > 0:
        layer = cv2.GaussianBlur(layer, (0, 0), shot.blur)
        mask = cv2.GaussianBlur(mask, (0, 0), shot.blur)
    if shot.motion > 1:
        length = int(round(shot.motion)) | 1
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1
        rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), shot.motion_angle, 1)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        kernel /= max(kernel.sum(), 1e-6)
        layer = cv2.filter2D(layer, -1, kernel)
        mask = cv2.filter2D(mask, -1, kernel)
    frame = frame * (1 - mask[..., None]) + layer
    if shot.noise > 0:
        frame += rng.normal(0, shot.noise, frame.shape).astype(np.float32)
    out = np.clip(frame, 0, 255).astype(np.uint8)
    if shot.jpeg is not None:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(shot.jpeg)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def _glare_blob(shot: Shot, w: int, h: int) -> np.ndarray:
    """Where a reflected light falls on the glass, 0…1 per frame pixel."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx = shot.center[0] + shot.glare_offset[0] * shot.qr_width
    gy = shot.center[1] + shot.glare_offset[1] * shot.qr_width
    size = shot.qr_width * shot.glare_size
    if shot.glare_shape == "spot":
        # A downlight: a saturated disc with a short soft edge, then a faint halo.
        r = np.hypot(xx - gx, yy - gy) / (0.22 * size)
        return np.clip(1.6 - 0.9 * r ** 4, 0, None) + 0.25 * np.exp(-r ** 2 / 6)
    # A tube light: an elongated bright streak.
    a = math.radians(35 + shot.roll)
    u = (xx - gx) * math.cos(a) + (yy - gy) * math.sin(a)
    v = -(xx - gx) * math.sin(a) + (yy - gy) * math.cos(a)
    return np.exp(-(u / (0.55 * size)) ** 2 - (v / (0.16 * size)) ** 2)


def idle_frame(seed: int = 0, noise: float = 2.0, background: np.ndarray | None = None) -> np.ndarray:
    """A frame with no code in view (the scene plus this frame's sensor noise)."""
    frame = (scene(seed) if background is None else background).astype(np.float32)
    frame += np.random.default_rng(seed + 1).normal(0, noise, frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


# --- the degraded set for tests and the bench -------------------------------------------------

# Each kind: a list of shots from mild to severe. The same set runs in the bench (its success
# rate is reported) and, in part, in the tests (the mild and middle levels must decode).
DEGRADATIONS: dict[str, list[Shot]] = {
    "clean": [Shot(), Shot(qr_width=220, center=(500, 330)), Shot(qr_width=110, center=(800, 420))],
    "blur": [Shot(blur=1.2), Shot(blur=2.0), Shot(blur=2.6), Shot(blur=3.2), Shot(motion=9, motion_angle=20),
             Shot(motion=16, motion_angle=80)],
    "tilt": [Shot(tilt_x=30), Shot(tilt_y=40), Shot(tilt_x=35, tilt_y=35), Shot(tilt_x=55),
             Shot(tilt_y=62, qr_width=190),
             Shot(tilt_x=68, qr_width=200), Shot(tilt_x=50, tilt_y=55, qr_width=120)],
    "moire": [Shot(moire=0.4), Shot(moire=0.6), Shot(moire=0.75, tilt_x=15), Shot(moire=0.9, qr_width=120)],
    "glare": [Shot(glare=0.5), Shot(glare=0.8), Shot(glare=0.9), Shot(glare=1.0, glare_offset=(0.0, 0.0)),
              Shot(glare=1.3, glare_offset=(-0.1, 0.1))],
    "low_contrast": [Shot(contrast=0.5), Shot(contrast=0.3, brightness=0.8), Shot(contrast=0.2, brightness=0.6),
                     Shot(contrast=0.12, brightness=0.5)],
    # A small code also shows the camera's softness and compression.
    "small": [Shot(qr_width=w, blur=0.7, jpeg=75) for w in (90, 75, 64, 56, 48)],
    "jpeg": [Shot(jpeg=40), Shot(jpeg=20), Shot(jpeg=10, qr_width=110), Shot(jpeg=6, qr_width=90)],
    "rotation": [Shot(roll=30), Shot(roll=90), Shot(roll=180), Shot(roll=-135, tilt_x=20),
                 Shot(roll=45, tilt_y=30, blur=1.5)],
    "dark_mode": [Shot(dark_mode=True), Shot(dark_mode=True, blur=1.5)],
}


def degraded_frames(text: str, seed: int = 0, placements: int = 1):
    """Yield (kind, level, shot, frame) over DEGRADATIONS, each shot at `placements` positions."""
    return _frames_of(DEGRADATIONS, text, seed, placements, spread=((-250, 250), (-120, 100), 8), seed_step=97)


def _frames_of(shots_by_kind, text, seed, placements, spread, seed_step):
    """(kind, level, shot, frame) for each shot; placements after the first move the phone
    about the frame within `spread` (x range, y range, ± roll degrees)."""
    rng = np.random.default_rng(seed)
    backgrounds = [scene(seed + i) for i in range(3)]
    (x0, x1), (y0, y1), roll = spread
    for kind, shots in shots_by_kind.items():
        for level, shot in enumerate(shots):
            for p in range(placements):
                placed = shot
                if p:
                    cx, cy = shot.center
                    placed = replace(shot, center=(cx + rng.uniform(x0, x1), cy + rng.uniform(y0, y1)),
                                     roll=shot.roll + rng.uniform(-roll, roll))
                frame = render(text, placed, backgrounds[(level + p) % 3].copy(), seed=seed + seed_step * level + p)
                yield kind, level, placed, frame


# --- video ------------------------------------------------------------------------------------

def make_phone_video(path: str | Path, text: str, seconds: float = 3.0, fps: float = 15.0, *,
                     idle_seconds: float = 0.6, shot: Shot | None = None, seed: int = 0) -> Path:
    """Write a video of a visitor holding up a phone that shows `text` as a QR code.

    The first `idle_seconds` show the counter with nobody holding anything; the phone then
    comes up from below (motion-blurred) and is held, trembling a little, until the end.
    `.avi` (Motion-JPEG) and `.mp4` (MPEG-4 part 2) are written with OpenCV's own codecs.
    """
    path = Path(path)
    fourcc = _FOURCC_BY_SUFFIX.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"unsupported video type {path.suffix!r}; use .avi or .mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, FRAME_SIZE)
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path.name}")
    base = shot or Shot(tilt_x=12, tilt_y=-8, roll=-6)
    background = scene(seed)
    rng = np.random.default_rng(seed)
    total = max(1, round(seconds * fps))
    idle = min(total - 1, round(idle_seconds * fps))
    rise = max(1, round(0.3 * fps))
    try:
        for i in range(total):
            if i < idle:
                frame = idle_frame(seed + i, background=background)
            else:
                k = i - idle
                travel = max(0.0, 1 - k / rise)  # 1 → 0 as the phone comes up into place
                cx, cy = base.center
                step = 500 * travel * (1 / rise) * fps / 15
                placed = replace(
                    base,
                    center=(cx + rng.normal(0, 1.5), cy + 480 * travel + rng.normal(0, 1.5)),
                    roll=base.roll + rng.normal(0, 0.8),
                    motion=max(base.motion, min(40.0, step)), motion_angle=90,
                )
                frame = render(text, placed, background.copy(), seed=seed + i)
            writer.write(frame)
    finally:
        writer.release()
    return path


def write_images(folder: str | Path, frames, prefix: str = "frame", ext: str = ".png") -> list[Path]:
    """Write frames as numbered images (a camera folder source reads them in name order)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        p = folder / f"{prefix}{i:04d}{ext}"
        if not cv2.imwrite(str(p), frame):
            raise OSError(f"cannot write {p.name}")
        paths.append(p)
    return paths



# --- hard light: glare, tilt and low contrast on a phone screen -------------------------------

# A phone token as the resident's phone shows it: error correction Q (prereg/qr.py). Each kind
# runs from a level every decoder reads to one none does, so the set separates decoders.
_PHONE = Shot(error="q", qr_width=170)
HARD_LIGHT: dict[str, list[Shot]] = {
    "streak": [replace(_PHONE, glare=g, glare_offset=o, glare_size=z) for g, o, z in (
        (0.6, (0.1, -0.1), 1.0), (0.9, (0.0, 0.0), 1.0), (1.1, (0.2, 0.1), 0.8), (1.3, (-0.1, 0.1), 1.2),
        (1.6, (0.0, 0.0), 1.5))],
    "spot": [replace(_PHONE, glare=g, glare_shape="spot", glare_offset=o, glare_size=z) for g, o, z in (
        (0.7, (0.3, 0.3), 0.8), (1.0, (0.1, -0.2), 1.0), (1.0, (0.0, 0.0), 1.3), (1.2, (-0.15, 0.1), 1.6),
        (1.4, (0.0, 0.05), 2.0))],
    "veil": [replace(_PHONE, veil=v, contrast=c, noise=n) for v, c, n in (
        (0.5, 0.8, 3.0), (0.65, 0.7, 4.0), (0.75, 0.6, 5.0), (0.82, 0.6, 6.0), (0.88, 0.5, 6.0))],
    "glare_tilt": [replace(_PHONE, glare=g, tilt_x=tx, tilt_y=ty, glare_offset=o) for g, tx, ty, o in (
        (0.6, 30, -15, (0.1, 0.0)), (0.9, 40, 20, (0.0, -0.1)), (1.1, 50, -30, (-0.1, 0.1)),
        (1.3, 55, 35, (0.0, 0.0)), (1.2, 65, 0, (0.1, 0.1)))],
    "glare_low_contrast": [replace(_PHONE, glare=g, contrast=c, brightness=b, glare_shape=gs) for g, c, b, gs in (
        (0.5, 0.5, 0.8, "streak"), (0.7, 0.35, 0.7, "spot"), (0.9, 0.3, 0.7, "streak"),
        (1.0, 0.22, 0.6, "spot"), (1.2, 0.18, 0.6, "streak"))],
    "glare_blur": [replace(_PHONE, glare=g, blur=bl, motion=m, motion_angle=30) for g, bl, m in (
        (0.6, 1.5, 0), (0.8, 2.2, 0), (1.0, 1.0, 9), (1.1, 2.6, 0), (1.3, 1.8, 12))],
    "glare_moire": [replace(_PHONE, glare=g, moire=mo, tilt_y=t) for g, mo, t in (
        (0.6, 0.5, 0), (0.8, 0.7, 15), (1.0, 0.8, 25), (1.2, 0.9, 10))],
    "tilt_low_contrast": [replace(_PHONE, tilt_x=tx, tilt_y=ty, contrast=c, veil=v, noise=4.0) for tx, ty, c, v in (
        (35, 20, 0.45, 0.2), (50, -25, 0.35, 0.3), (60, 30, 0.3, 0.35), (68, 0, 0.25, 0.4))],
    "small_glare": [replace(_PHONE, qr_width=wd, glare=g, blur=0.7, jpeg=75) for wd, g in (
        (110, 0.6), (95, 0.8), (80, 0.9), (68, 1.0))],
}


def hard_light_frames(text: str, seed: int = 0, placements: int = 1):
    """Yield (kind, level, shot, frame) over HARD_LIGHT, each shot at `placements` positions."""
    return _frames_of(HARD_LIGHT, text, seed, placements, spread=((-220, 220), (-100, 80), 20), seed_step=131)


def moving_glare_frames(text: str, count: int = 8, shot: Shot | None = None, *, seed: int = 0,
                        sweep: tuple[tuple[float, float], tuple[float, float]] = ((-0.45, -0.35), (0.45, 0.35)),
                        tremble: float = 0.6):
    """Successive frames of a phone held still (trembling by `tremble` pixels) while a hard
    reflection sweeps across its code, as when the visitor's hand turns: each frame loses a
    different part of the code to the glare."""
    base = shot or replace(_PHONE, glare=1.5, glare_shape="spot", glare_size=1.6, tilt_x=10, roll=-5)
    background = scene(seed)
    rng = np.random.default_rng(seed)
    (x0, y0), (x1, y1) = sweep
    frames = []
    for i in range(count):
        t = i / max(1, count - 1)
        cx, cy = base.center
        placed = replace(base, center=(cx + rng.normal(0, tremble), cy + rng.normal(0, tremble)),
                         glare_offset=(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
        frames.append(render(text, placed, background.copy(), seed=seed + i))
    return frames
