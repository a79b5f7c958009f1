"""Pictures of edge data for the viewer: plain NumPy/OpenCV, no Qt.

Every object id gets one colour everywhere (masks, boxes, points), so a
compositor can follow an object from the prompt to the tracked matte.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..engine.palette import PALETTE as COLOURS, colour_of  # noqa: F401  (one palette everywhere)

BLANK_SIZE = (360, 640)  # (height, width) of the canvas when there are no frames to draw on


def labels_image(labels: np.ndarray) -> np.ndarray:
    """A label map shown alone: each object in its colour on black."""
    return COLOURS[np.asarray(labels, np.uint8)]


def overlay_labels(rgb: np.ndarray, labels: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Tint each object's pixels with its colour and outline it, over the frame."""
    labels = np.asarray(labels, np.uint8)
    if labels.shape != rgb.shape[:2]:
        labels = cv2.resize(labels, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
    out = rgb.copy()
    rows, cols = np.flatnonzero(labels.any(axis=1)), np.flatnonzero(labels.any(axis=0))
    if not len(rows):
        return out
    # Work on the objects' bounding box and a one-pixel ring around it (where an outline may look
    # outside), not the whole frame: a click's overlay on an HD frame stays a few milliseconds.
    y0, y1 = max(0, rows[0] - 1), min(labels.shape[0], rows[-1] + 2)
    x0, x1 = max(0, cols[0] - 1), min(labels.shape[1], cols[-1] + 2)
    lab, src, dst = labels[y0:y1, x0:x1], rgb[y0:y1, x0:x1], out[y0:y1, x0:x1]
    inside = lab > 0
    tint = COLOURS[lab]
    dst[inside] = (src[inside] * (1 - opacity) + tint[inside] * opacity).astype(np.uint8)
    edge = np.zeros_like(inside)
    edge[:-1] |= lab[:-1] != lab[1:]
    edge[1:] |= lab[:-1] != lab[1:]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    edge[:, 1:] |= lab[:, :-1] != lab[:, 1:]
    edge &= inside
    dst[edge] = COLOURS[lab[edge]]
    return out


def blank(height: int | None = None, width: int | None = None) -> np.ndarray:
    h, w = (height or BLANK_SIZE[0]), (width or BLANK_SIZE[1])
    return np.full((h, w, 3), 24, np.uint8)


def canvas_for_records(records: dict) -> np.ndarray:
    """A dark canvas large enough for every box or point, when no frames are at hand."""
    xs, ys = [BLANK_SIZE[1] - 1], [BLANK_SIZE[0] - 1]
    for rows in records.values():
        for r in rows:
            if len(r) >= 4 and all(isinstance(v, (int, float)) for v in r[:2]):
                xs.append(r[2] if len(r) >= 7 else r[0])
                ys.append(r[3] if len(r) >= 7 else r[1])
    return blank(int(max(ys)) + 1, int(max(xs)) + 1)


def _text(img: np.ndarray, text: str, org: tuple[int, int], colour) -> None:
    scale = max(0.4, img.shape[0] / 900)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def draw_boxes(rgb: np.ndarray, rows: list) -> np.ndarray:
    """Boxes [x0, y0, x1, y1, score, label, object id] in their object's colour, with label and score."""
    out = np.ascontiguousarray(rgb.copy())
    thick = max(1, round(out.shape[0] / 360))
    for r in rows:
        x0, y0, x1, y1 = (int(round(float(v))) for v in r[:4])
        score = r[4] if len(r) > 4 else None
        label = r[5] if len(r) > 5 else ""
        oid = r[6] if len(r) > 6 else 1
        colour = colour_of(oid)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick, cv2.LINE_AA)
        caption = f"#{oid} {label}".strip()
        if isinstance(score, (int, float)):
            caption += f" {score:.2f}"
        _text(out, caption, (x0 + 3, max(12, y0 - 4)), colour)
    return out


def draw_points(rgb: np.ndarray, rows: list) -> np.ndarray:
    """Points [x, y, positive, object id]: a filled dot for positive, a ring with a cross for negative."""
    out = np.ascontiguousarray(rgb.copy())
    radius = max(4, round(out.shape[0] / 90))
    for r in rows:
        x, y = int(round(float(r[0]))), int(round(float(r[1])))
        positive = bool(r[2]) if len(r) > 2 else True
        colour = colour_of(r[3] if len(r) > 3 else 1)
        if positive:
            cv2.circle(out, (x, y), radius, colour, -1, cv2.LINE_AA)
            cv2.circle(out, (x, y), radius, (255, 255, 255), 1, cv2.LINE_AA)
        else:
            cv2.circle(out, (x, y), radius, colour, 2, cv2.LINE_AA)
            d = max(2, radius // 2)
            cv2.line(out, (x - d, y - d), (x + d, y + d), colour, 2, cv2.LINE_AA)
            cv2.line(out, (x - d, y + d), (x + d, y - d), colour, 2, cv2.LINE_AA)
    return out
