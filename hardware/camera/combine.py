"""Successive frames combined, so a reflection moving over a phone's code stops hiding it.

A glare only ever brightens the screen, and as the visitor's hand turns it moves: a module
it washes out in one frame is dark again in another. Aligned on the code and taken
pixel by pixel, the darkest of a few frames is the code without the glare (their median is
kept too, for a glare that lingers on part of the code). The scanner feeds the stack the
frames in which a code was located but not read, and tries the combination once it holds
`MIN_FRAMES`.
"""
from __future__ import annotations

from collections import deque

import cv2
import numpy as np

MIN_FRAMES = 3
_MAX_SHIFT = 12  # pixels: more, and the phone moved (a new shot), not merely trembled


def _union(boxes):
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


class FrameStack:
    """The last few greyscale frames showing one unread code, with where it was."""

    def __init__(self, depth: int = 6):
        self.frames: deque[tuple[np.ndarray, tuple[int, int, int, int]]] = deque(maxlen=depth)

    def __len__(self) -> int:
        return len(self.frames)

    def clear(self) -> None:
        self.frames.clear()

    def add(self, grey: np.ndarray, box: tuple[int, int, int, int]) -> None:
        if self.frames:
            last_grey, last_box = self.frames[-1]
            moved = abs(box[0] + box[2] / 2 - last_box[0] - last_box[2] / 2) + abs(
                box[1] + box[3] / 2 - last_box[1] - last_box[3] / 2)
            if last_grey.shape != grey.shape or moved > max(box[2], box[3]) / 2:
                self.frames.clear()  # another code, or the phone went elsewhere
        self.frames.append((grey, box))

    def combined(self) -> list[np.ndarray]:
        """The code's crop as the darkest and the median of the stacked frames, aligned on
        the newest (empty until MIN_FRAMES are stacked)."""
        if len(self.frames) < MIN_FRAMES:
            return []
        x, y, w, h = _union([b for _, b in self.frames])
        m = int(0.35 * max(w, h)) + 8
        height, width = self.frames[-1][0].shape
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(width, x + w + m), min(height, y + h + m)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return []
        newest = self.frames[-1][0][y0:y1, x0:x1].astype(np.float32)
        window = cv2.createHanningWindow((x1 - x0, y1 - y0), cv2.CV_32F)
        aligned = [newest]
        for grey, _ in list(self.frames)[:-1]:
            crop = grey[y0:y1, x0:x1].astype(np.float32)
            # Edges, not brightness, so the moving glare does not pull the alignment.
            (dx, dy), _ = cv2.phaseCorrelate(cv2.Laplacian(newest, cv2.CV_32F), cv2.Laplacian(crop, cv2.CV_32F),
                                             window)
            if abs(dx) > _MAX_SHIFT or abs(dy) > _MAX_SHIFT:
                continue
            shift = np.float32([[1, 0, -dx], [0, 1, -dy]])
            aligned.append(cv2.warpAffine(crop, shift, (x1 - x0, y1 - y0), borderMode=cv2.BORDER_REPLICATE))
        if len(aligned) < MIN_FRAMES:
            return []
        stack = np.stack(aligned)
        return [np.clip(stack.min(axis=0), 0, 255).astype(np.uint8),
                np.clip(np.median(stack, axis=0), 0, 255).astype(np.uint8)]
