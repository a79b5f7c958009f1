"""Real footage with holes of known truth, for scoring fills (bench and tests).

The holes lie on background only: each frame's people (from the clip's own
masks, grown a little) are cut out of its hole, so the truth behind the hole
is the original frame. The people are not in the hole, so to a fill they are
passers-by that walk across or beside it, the way unmasked people do in real
shots. Inside the hole the plate is painted over, so a fill that read the
hole's own pixels would gain nothing from it.

Each case is (name, plate frames (N, H, W, 3) uint8 RGB, hole masks (N, H, W)
uint8, truth frames, people (N, H, W) bool). Hole placement is given in fractions of the frame, so a
case can be built at any size.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# How far around a person's mask the hole keeps off, in pixels at 432 wide:
# masks miss hair and soft edges, which are no background truth.
PEOPLE_MARGIN = 4


@dataclass
class FootageCase:
    name: str
    frames: np.ndarray
    masks: np.ndarray
    truth: np.ndarray
    people: np.ndarray


def read_tennis(media):
    """DAVIS tennis: frames and people (bool) from tennis/ and tennis_mask/."""
    names = sorted((Path(media) / "tennis").glob("*.png"))
    frames = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in names])
    people = np.stack([cv2.imread(str(Path(media) / "tennis_mask" / p.name), cv2.IMREAD_GRAYSCALE) > 0
                       for p in names])
    return frames, people


def read_schoolgirls(media):
    """schoolgirls.mp4 and its palette masks in schoolgirls_mask/."""
    import av

    with av.open(str(Path(media) / "schoolgirls.mp4")) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])
    names = sorted((Path(media) / "schoolgirls_mask").glob("*.png"))
    people = np.stack([cv2.imread(str(p), cv2.IMREAD_UNCHANGED).reshape(frames.shape[1], frames.shape[2], -1)
                       .max(axis=2) > 0 for p in names])
    count = min(len(frames), len(people))
    return frames[:count], people[:count]


def resized(frames, people, width):
    """Both scaled to `width` pixels wide (frames by area, people by cover)."""
    if width is None or width == frames.shape[2]:
        return frames, people
    height = round(frames.shape[1] * width / frames.shape[2])
    small = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])
    cover = np.stack([cv2.resize(p.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) > 0
                      for p in people])
    return small, cover


def people_margin(width):
    """PEOPLE_MARGIN in pixels at a frame `width` pixels wide."""
    return max(1, round(PEOPLE_MARGIN * width / 432))


def around(person, radius):
    """Bool map of a person's mask grown by radius pixels (round brush)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(person.astype(np.uint8), kernel) > 0


def place_hole(name, frames, people, ellipse_at):
    """A case whose hole in frame t is the ellipse ellipse_at(t) = (cx, cy, rx,
    ry) in fractions of the frame (None: no hole), minus the grown people."""
    count, height, width = frames.shape[:3]
    margin = people_margin(width)
    masks = np.zeros((count, height, width), np.uint8)
    for t in range(count):
        placed = ellipse_at(t)
        if placed is None:
            continue
        cx, cy, rx, ry = placed
        cv2.ellipse(masks[t], (round(cx * width), round(cy * height)),
                    (max(1, round(rx * width)), max(1, round(ry * height))), 0, 0, 360, 1, -1)
        masks[t][around(people[t], margin)] = 0
    plate = frames.copy()
    # Painted over with a flat grey and a little texture, like an object.
    rng = np.random.default_rng(0)
    paint = np.clip(128 + rng.normal(0, 12, frames.shape[1:]), 0, 255).astype(np.uint8)
    for t in range(count):
        plate[t][masks[t] > 0] = paint[masks[t] > 0]
    return FootageCase(name, plate, masks, frames, people)


def tennis_crossing(media, width=None):
    """Moving camera: a hole slides along the wall and court, right to left,
    across the path of the running player."""
    frames, people = resized(*read_tennis(media), width)
    count = len(frames)
    return place_hole("tennis: moving camera, hole crossing the player's path", frames, people,
                      lambda t: (0.88 - 0.76 * t / (count - 1), 0.5, 0.09, 0.12))


def schoolgirls_fixed(media, width=None):
    """Static camera: a fixed hole between the children that they walk
    beside and through. It is there for the middle third of the shot (what
    stood there arrives and leaves), so the background behind it is seen in
    the frames before and after, never further off than a fill's window.
    """
    frames, people = resized(*read_schoolgirls(media), width)
    count = len(frames)
    return place_hole("schoolgirls: static camera, fixed hole the children walk through", frames, people,
                      lambda t: (0.5, 0.45, 0.07, 0.2) if count // 3 <= t < count - count // 3 else None)


def schoolgirls_sliding(media, width=None):
    """Static camera: a hole sliding between the children, there and back."""
    frames, people = resized(*read_schoolgirls(media), width)
    count = len(frames)

    def ellipse_at(t):
        phase = 2 * t / (count - 1)
        x = phase if phase <= 1 else 2 - phase
        return 0.2 + 0.6 * x, 0.42, 0.06, 0.15

    return place_hole("schoolgirls: static camera, hole sliding between the children", frames, people, ellipse_at)


def schoolgirls_slow(media, width=None):
    """Static camera: a hole creeping about a pixel a frame (at 432 wide)
    beside the children. Most of what it covers was seen only a few frames
    ago, along a thin band; the rest is never seen at all."""
    frames, people = resized(*read_schoolgirls(media), width)
    count = len(frames)
    return place_hole("schoolgirls: static camera, slow hole beside the children", frames, people,
                      lambda t: (0.38 + 0.18 * t / (count - 1), 0.5, 0.07, 0.18))


def schoolgirls_whole(media, width=None):
    """Static camera: a hole fixed for the whole shot beside where the
    children stand and walk. No frame shows what is behind it, so the
    spatial invention decides, and children standing still at its edge must
    not be drawn into it."""
    frames, people = resized(*read_schoolgirls(media), width)
    return place_hole("schoolgirls: static camera, hole fixed for the whole shot", frames, people,
                      lambda t: (0.62, 0.45, 0.06, 0.16))


def tennis_whole(media, width=None):
    """Moving camera: a hole fixed in the picture for the whole shot, on the
    player's path. The camera's pan shows what is behind it in other frames,
    at other places in the picture."""
    frames, people = resized(*read_tennis(media), width)
    return place_hole("tennis: moving camera, hole fixed in the picture for the whole shot", frames, people,
                      lambda t: (0.45, 0.55, 0.08, 0.14))


def tennis_riding(media, width=None):
    """Moving camera: a hole that moves with the ground under it (an object
    lying on the court) while the player runs past and across it. The hole
    is carried by the median optical flow of what it covers, people left
    out; on the near-textureless clay that flow lags the fast pan, so the
    frames still show part of what is behind the hole (about three
    quarters of its pixels at 432 wide) and no frame the rest."""
    frames, people = resized(*read_tennis(media), width)
    height, width = frames.shape[1:3]
    rx, ry = 0.07, 0.1
    centres = _ride(frames, people, (0.12 * width, 0.62 * height), 0, rx * width, ry * height)
    return place_hole("tennis: moving camera, hole moving with the court under it, player crossing", frames, people,
                      lambda t: (centres[t][0] / width, centres[t][1] / height, rx, ry))


def schoolgirls_standing(media, width=None):
    """Static camera: a fixed hole for the second half of the shot, right
    beside where the children stand and wait."""
    frames, people = resized(*read_schoolgirls(media), width)
    count = len(frames)
    return place_hole("schoolgirls: static camera, hole beside children standing, second half", frames, people,
                      lambda t: (0.42, 0.5, 0.05, 0.2) if t >= count // 2 else None)


CASES = (tennis_crossing, schoolgirls_fixed, schoolgirls_sliding, schoolgirls_slow, schoolgirls_whole, tennis_whole,
         tennis_riding, schoolgirls_standing)


# Hole kinds of random_case: fixed in the picture for part of the shot,
# sliding in a straight line, fixed for the whole shot, and (on a moving
# camera) carried with the ground under it.
RANDOM_KINDS = ("fixed", "sliding", "whole", "riding")


def random_case(media, seed, width=None):
    """A hole placement drawn at random (reproducibly, from `seed`) on one of
    the two clips, near where the people are: an ellipse of random size put
    beside or on a person at a random frame, then fixed for a part of the
    shot, sliding at 0.3 to 4 pixels a frame (at 432 wide) in a random
    direction, fixed for the whole shot, or (tennis) carried with the ground.
    Returns (kind, FootageCase)."""
    rng = np.random.default_rng(seed)
    tennis = seed % 2 == 0
    frames, people = resized(*(read_tennis(media) if tennis else read_schoolgirls(media)), width)
    count, height, width = frames.shape[:3]
    kinds = RANDOM_KINDS if tennis else RANDOM_KINDS[:3]
    kind = kinds[rng.integers(len(kinds))]
    rx, ry = rng.uniform(0.04, 0.1), rng.uniform(0.08, 0.2)
    t0 = int(rng.integers(count))
    ys, xs = np.nonzero(people[t0])
    at = rng.integers(len(ys)) if len(ys) else None
    px, py = (xs[at] / width, ys[at] / height) if at is not None else (0.5, 0.5)
    angle = rng.uniform(0, 2 * np.pi)
    reach = rng.uniform(0.8, 2.5)
    cx = float(np.clip(px + reach * rx * np.cos(angle), rx, 1 - rx))
    cy = float(np.clip(py + reach * ry * np.sin(angle), ry, 1 - ry))
    span = int(rng.integers(count // 3, 2 * count // 3 + 1))
    first = int(np.clip(t0 - rng.integers(span), 0, count - span))
    if kind == "fixed":
        at_t = lambda t: (cx, cy, rx, ry) if first <= t < first + span else None  # noqa: E731
    elif kind == "whole":
        at_t = lambda t: (cx, cy, rx, ry)  # noqa: E731
    elif kind == "sliding":
        speed = rng.uniform(0.3, 4.0) / 432
        heading = rng.uniform(0, 2 * np.pi)
        vx, vy = speed * np.cos(heading), speed * np.sin(heading) * width / height

        def at_t(t):
            x = float(np.clip(cx + vx * (t - t0), rx, 1 - rx))
            y = float(np.clip(cy + vy * (t - t0), ry, 1 - ry))
            return x, y, rx, ry
    else:
        centres = _ride(frames, people, (cx * width, cy * height), t0, rx * width, ry * height)
        at_t = lambda t: (centres[t][0] / width, centres[t][1] / height, rx, ry)  # noqa: E731
    name = (f"random {seed}: {'tennis' if tennis else 'schoolgirls'}, {kind} hole "
            f"{2 * rx * width:.0f}x{2 * ry * height:.0f} px near ({cx:.2f}, {cy:.2f}) at frame {t0}")
    return kind, place_hole(name, frames, people, at_t)


def _ride(frames, people, centre, t0, rx, ry):
    """Centres of an ellipse carried from frame t0, both ways, by the median
    optical flow of what it covers (people left out)."""
    count, height, width = frames.shape[:3]
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    centres = {t0: centre}
    for step in (1, -1):
        for t in range(t0 + step, count if step > 0 else -1, step):
            gray_a, gray_b = (cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY) for i in (t - step, t))
            motion = flow.calc(gray_a, gray_b, None)
            cx, cy = centres[t - step]
            under = np.zeros((height, width), np.uint8)
            cv2.ellipse(under, (round(cx), round(cy)), (round(rx), round(ry)), 0, 0, 360, 1, -1)
            under = (under > 0) & ~people[t - step]
            if under.any():
                cx, cy = cx + float(np.median(motion[..., 0][under])), cy + float(np.median(motion[..., 1][under]))
            centres[t] = (cx, cy)
    return centres


def seen_share(case, window=30, step=2):
    """Share of the hole's pixels whose background some frame within
    `window` frames shows bare (neither hole nor person, nor within twice
    the hole's margin of a person): what any fill from other frames could
    take at best. The camera is followed by
    homographies between neighbouring frames, fitted to ORB features of the
    truth frames away from the people. Every `step`-th hole pixel is
    checked."""
    count, height, width = case.masks.shape
    orb = cv2.ORB_create(3000)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in case.truth]
    away = [(~p).astype(np.uint8) * 255 for p in case.people]
    features = [orb.detectAndCompute(g, a) for g, a in zip(gray, away)]
    placed = [np.eye(3)]  # frame 0 coordinates to frame t coordinates
    for t in range(count - 1):
        (points_a, desc_a), (points_b, desc_b) = features[t], features[t + 1]
        step_h = None
        if desc_a is not None and desc_b is not None:
            matches = matcher.match(desc_a, desc_b)
            if len(matches) >= 8:
                src = np.float32([points_a[m.queryIdx].pt for m in matches])
                dst = np.float32([points_b[m.trainIdx].pt for m in matches])
                step_h, _ = cv2.findHomography(src, dst, cv2.RANSAC, 2.0)
        if step_h is None or _corner_shift(step_h, width, height) < 0.5:
            step_h = np.eye(3)  # a still camera: fitting noise would add up over the window
        placed.append(step_h @ placed[-1])
    # A person's mask misses hair and soft edges: what lies within the hole's
    # margin of one is no clean view of the background.
    margin = 2 * people_margin(width)
    bare = [~(m > 0) & ~around(p, margin) for m, p in zip(case.masks, case.people)]
    seen = total = 0
    for t in range(count):
        ys, xs = np.nonzero(case.masks[t])
        if not len(ys):
            continue
        ys, xs = ys[::step], xs[::step]
        points = np.stack([xs, ys], axis=1).astype(np.float32)[None]
        shown = np.zeros(len(ys), bool)
        back_to_first = np.linalg.inv(placed[t])
        for k in range(max(0, t - window), min(count, t + window + 1)):
            if k == t:
                continue
            moved = cv2.perspectiveTransform(points, placed[k] @ back_to_first)[0]
            xi, yi = np.rint(moved[:, 0]).astype(int), np.rint(moved[:, 1]).astype(int)
            inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            shown[inside] |= bare[k][yi[inside], xi[inside]]
        seen += int(shown.sum())
        total += len(ys)
    return seen / max(total, 1)


def _corner_shift(homography, width, height):
    """How far, in pixels, a homography moves the frame's corners at most."""
    corners = np.float32([[0, 0], [width, 0], [0, height], [width, height]])[None]
    return float(np.abs(cv2.perspectiveTransform(corners, homography)[0] - corners[0]).max())
