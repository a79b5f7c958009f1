"""The same frames give the same decoded frames on every run, for every codec, at odd and even widths.

Uninitialised memory reaching an encoder showed up only now and then, so a
plain "encode twice" test could pass by luck. Each run here is a child process
with MALLOC_PERTURB_ set to a different byte: glibc then fills memory it
hands out with that byte, and whatever reads memory it never wrote sees
different values in the two runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WIDTHS = (431, 432)

_CHILD = r"""
import hashlib, json, sys
from fractions import Fraction
from pathlib import Path
import av, numpy as np
from inpainterz.engine.data import frames_writer
from inpainterz.nodes import encode

out_dir = Path(sys.argv[1])
rng = np.random.default_rng(7)
yy, xx = np.mgrid[0:240, 0:432]
base = np.stack([(xx * 0.6) % 256, (yy * 1.1) % 256, ((xx + yy) * 0.4) % 256], -1)
result = {}
for width in WIDTHS:
    writer = frames_writer(out_dir / f"clip{width}", 240, width, Fraction(25))
    for i in range(10):
        img = np.roll(base, 3 * i, axis=1)[:, :width] + rng.normal(0, 6, (240, width, 3))
        writer.append(np.clip(img, 0, 255).astype(np.uint8))
    clip = writer.close()
    for codec in encode.CODECS:
        if not encode._has_encoder(encode.CODECS[codec].encoder):
            continue
        odd = width % 2 == 1
        pix_fmt = {"h264": "yuv444p", "h265": "yuv444p", "prores": "yuv444p10le"}.get(codec, "") if odd else ""
        ext = {"ffv1": ".mkv", "prores": ".mov"}.get(codec, ".mp4")
        path = out_dir / f"{codec}_{width}{ext}"
        encode.write_video(path, clip, codec, 18, pix_fmt, "medium", False, lambda p: None, lambda m: None)
        h = hashlib.sha256()
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                h.update(f.to_ndarray(format="rgb24").tobytes())
        result[f"{codec} {width}"] = h.hexdigest()
print(json.dumps(result))
""".replace("WIDTHS", repr(WIDTHS))


def _encode_all(out: Path, perturb: int) -> dict:
    out.mkdir()
    env = dict(os.environ, MALLOC_PERTURB_=str(perturb))
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(out)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("determinism")
    return _encode_all(root / "a", 17), _encode_all(root / "b", 85)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("codec", ["h264", "h265", "ffv1", "prores"])
def test_same_frames_decode_the_same_on_every_run(two_runs, codec, width):
    a, b = two_runs
    key = f"{codec} {width}"
    if key not in a:
        pytest.skip(f"this FFmpeg build has no encoder for {codec}")
    assert a[key] == b[key], f"{codec} at width {width} decoded differently in two runs"
