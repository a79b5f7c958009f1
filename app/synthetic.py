"""A synthetic shot for tests, benchmarks and the demo.

A rich, natural-looking texture seen through a slow camera pan, with a
textured object moving across it. Because the scene is made here, the clean
background behind the object is known exactly, so inpainting can be scored.
Everything is seeded, so the same arguments give the same pixels.
"""

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..engine.atomic import atomic_write

OBJECT_ID = 1


@dataclass(frozen=True)
class SceneSpec:
    width: int = 640
    height: int = 360
    frames: int = 90
    fps: Fraction = Fraction(25)
    seed: int = 0
    pan_per_frame: tuple = (1.3, 0.4)       # camera motion in pixels (x, y)
    object_size: float = 0.24               # object height as a fraction of the frame height
    object_travel: tuple = (0.15, 0.85)     # object centre x from start to end, as fractions of the width


@dataclass
class Scene:
    frames: np.ndarray        # (N, H, W, 3) uint8 RGB, what the camera saw
    masks: np.ndarray         # (N, H, W) uint8 label maps, OBJECT_ID on the object
    backgrounds: np.ndarray   # (N, H, W, 3) uint8 RGB, the same shot without the object
    fps: Fraction


def make_scene(width=640, height=360, frames=90, fps=Fraction(25), seed=0, **options):
    """The whole scene in memory (fine for short clips; see iter_scene)."""
    spec = SceneSpec(width=width, height=height, frames=frames, fps=Fraction(fps), seed=seed, **options)
    scene = Scene(frames=np.empty((frames, height, width, 3), np.uint8),
                  masks=np.empty((frames, height, width), np.uint8),
                  backgrounds=np.empty((frames, height, width, 3), np.uint8),
                  fps=spec.fps)
    for index, (frame, mask, background) in enumerate(iter_scene(spec)):
        scene.frames[index], scene.masks[index], scene.backgrounds[index] = frame, mask, background
    return scene


def iter_scene(spec):
    """Yields (frame, mask, background) for each frame, one at a time."""
    if spec.width < 16 or spec.height < 16 or spec.frames < 1:
        raise ValueError("the synthetic scene needs at least 16x16 pixels and one frame")
    rng = np.random.default_rng(spec.seed)
    pan_x, pan_y = spec.pan_per_frame
    travel_x = abs(pan_x) * (spec.frames - 1)
    travel_y = abs(pan_y) * (spec.frames - 1)
    margin = 8
    canvas = make_texture(spec.height + int(np.ceil(travel_y)) + 2 * margin,
                          spec.width + int(np.ceil(travel_x)) + 2 * margin, rng)
    sprite, sprite_alpha = make_object_sprite(max(8, int(spec.height * spec.object_size)), rng)
    start_x = margin + (travel_x if pan_x < 0 else 0.0)
    start_y = margin + (travel_y if pan_y < 0 else 0.0)
    for t in range(spec.frames):
        view = _camera_view(canvas, start_x + pan_x * t, start_y + pan_y * t, spec.width, spec.height)
        background = np.clip(np.rint(view), 0, 255).astype(np.uint8)
        pose = _object_pose(spec, t)
        colour, alpha = _place_sprite(sprite, sprite_alpha, pose, spec.width, spec.height)
        # Every pixel the object touches belongs to the mask, and outside the
        # mask the frame is the background exactly.
        alpha[alpha < 1.0 / 255.0] = 0.0
        a = alpha[..., None]
        frame = np.clip(np.rint(background * (1.0 - a) + colour * a), 0, 255).astype(np.uint8)
        mask = np.where(alpha > 0.0, OBJECT_ID, 0).astype(np.uint8)
        yield frame, mask, background


def make_texture(height, width, rng):
    """A colourful, natural-looking texture: multi-scale noise mapped through
    an earthy palette, a light gradient, scattered shapes and fine grain."""
    shade = _fractal_noise(height, width, rng, finest=3, coarsest=160)
    hue = _fractal_noise(height, width, rng, finest=12, coarsest=320)
    palette = np.array([[52, 78, 40], [96, 130, 62], [150, 136, 92], [196, 178, 140],
                        [84, 104, 140], [140, 96, 70]], np.float32)
    position = np.clip(hue, 0, 0.9999) * (len(palette) - 1)
    low = position.astype(np.int32)
    frac = (position - low)[..., None]
    base = palette[low] * (1 - frac) + palette[np.minimum(low + 1, len(palette) - 1)] * frac
    gradient = np.linspace(1.15, 0.85, height, dtype=np.float32)[:, None, None]
    image = base * (0.55 + 0.9 * shade[..., None]) * gradient

    layer = np.clip(image, 0, 255).astype(np.uint8)
    area = height * width
    for _ in range(max(12, area // 6000)):
        colour = tuple(int(c) for c in rng.integers(20, 236, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(4, max(6, min(height, width) // 10)))
        kind = rng.integers(0, 4)
        if kind == 0:
            cv2.circle(layer, (x, y), size, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(layer, (x, y), (x + size, y + int(size * rng.uniform(0.4, 1.6))), colour, -1, cv2.LINE_AA)
        elif kind == 2:
            end = (x + int(rng.integers(-4, 5) * size), y + int(rng.integers(-4, 5) * size))
            cv2.line(layer, (x, y), end, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            corners = (np.array([x, y]) + rng.integers(-size, size + 1, (5, 2))).astype(np.int32)
            cv2.fillPoly(layer, [corners], colour, cv2.LINE_AA)
    image = 0.7 * layer.astype(np.float32) + 0.3 * image
    grain = rng.normal(0.0, 6.0, (height, width, 1)).astype(np.float32)
    image = image + grain
    # A camera never records detail finer than a pixel; a slight blur keeps
    # the texture band-limited so that sub-pixel pans look like real footage.
    image = cv2.GaussianBlur(image, (0, 0), 0.6)
    return np.clip(image, 0, 255).astype(np.float32)


def make_object_sprite(size, rng):
    """A warm, striped and speckled blob with a soft edge: (colour, alpha)."""
    h, w = size, int(size * 1.4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    angle = np.arctan2(yy - cy, xx - cx)
    wobble = 1.0 + 0.12 * np.sin(3 * angle + rng.uniform(0, 6.28)) + 0.06 * np.sin(5 * angle)
    radius = np.hypot((xx - cx) / (w / 2), (yy - cy) / (h / 2)) / wobble
    alpha = np.clip((1.0 - radius) * size / 3.0, 0.0, 1.0)
    stripes = 0.5 + 0.5 * np.sin(xx * 0.6 + yy * 0.25)
    speckle = _fractal_noise(h, w, rng, finest=2, coarsest=max(4, size // 3))
    red = 170 + 70 * stripes
    green = 40 + 110 * speckle * stripes
    blue = 30 + 50 * speckle
    colour = np.stack([red, green, blue], axis=-1)
    colour *= np.clip(1.2 - 0.5 * radius, 0.6, 1.0)[..., None]
    return np.clip(colour, 0, 255).astype(np.float32), alpha.astype(np.float32)


def _fractal_noise(height, width, rng, finest, coarsest):
    """Sum of smooth random fields from `finest` to `coarsest` cell size, in [0, 1]."""
    total = np.zeros((height, width), np.float32)
    cell = finest
    while cell <= coarsest:
        grid = rng.standard_normal((height // cell + 2, width // cell + 2)).astype(np.float32)
        field = cv2.resize(grid, ((width // cell + 2) * cell, (height // cell + 2) * cell),
                           interpolation=cv2.INTER_CUBIC)[:height, :width]
        total += field * (cell ** 0.7)
        cell *= 2
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def _camera_view(canvas, x, y, width, height):
    shift = np.float32([[1, 0, -x], [0, 1, -y]])
    return cv2.warpAffine(canvas, shift, (width, height), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def _object_pose(spec, t):
    progress = t / max(spec.frames - 1, 1)
    start, end = spec.object_travel
    cx = spec.width * (start + (end - start) * progress)
    cy = spec.height * (0.55 + 0.12 * np.sin(2 * np.pi * progress * 1.3))
    angle = 12.0 * np.sin(2 * np.pi * progress * 0.8)
    return cx, cy, angle


def _place_sprite(sprite, sprite_alpha, pose, width, height):
    cx, cy, angle = pose
    h, w = sprite_alpha.shape
    transform = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    transform[0, 2] += cx - (w - 1) / 2
    transform[1, 2] += cy - (h - 1) / 2
    colour = cv2.warpAffine(sprite, transform, (width, height), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(sprite_alpha, transform, (width, height), flags=cv2.INTER_LINEAR)
    return colour, alpha


# ---------------------------------------------------------------- writing

def write_video(path, frames, fps, crf=16):
    """Encode RGB frames to an H.264 mp4 (yuv420p) at an exact fractional fps."""
    import av

    path = Path(path)
    fps = Fraction(fps)
    with atomic_write(path) as partial, av.open(str(partial), mode="w", format="mp4") as container:
        stream = None
        for index, frame in enumerate(frames):
            if stream is None:
                stream = container.add_stream("libx264", rate=fps)
                stream.width, stream.height = frame.shape[1], frame.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf)}
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            video_frame.pts = index
            video_frame.time_base = 1 / fps
            container.mux(stream.encode(video_frame))
        if stream is not None:
            container.mux(stream.encode(None))
    return path


def write_images(folder, frames, pattern="%05d.png"):
    """RGB frames to numbered PNGs; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        _write_png(folder / (pattern % index), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def write_masks(folder, masks, pattern="%05d.png"):
    """Label maps to numbered single-channel PNGs (value = object id)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, mask in enumerate(masks):
        _write_png(folder / (pattern % index), np.ascontiguousarray(mask, dtype=np.uint8))
    return folder


def write_scene(folder, scene, video=True):
    """The scene as a shot on disk: clip.mp4 (or frames/*.png), masks/*.png and
    background/*.png (the truth). Returns a dict of the paths written."""
    folder = Path(folder)
    paths = {"masks": write_masks(folder / "masks", scene.masks),
             "background": write_images(folder / "background", scene.backgrounds)}
    if video:
        paths["video"] = write_video(folder / "clip.mp4", scene.frames, scene.fps)
    else:
        paths["frames"] = write_images(folder / "frames", scene.frames)
    return paths


def _write_png(path, image):
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    with atomic_write(path) as partial:
        partial.write_bytes(encoded.tobytes())
