"""Reading and writing video, image sequences and masks, through the engine."""
from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from inpainterz.engine import Frames, Graph, GraphError, Output, node
from inpainterz.app.cli import main as cli_main
from inpainterz.engine.data import register_reader
from inpainterz.engine.registry import load_registry
from inpainterz.nodes import video
from inpainterz.nodes.maskfiles import PALETTE

SHARED = Path(os.environ.get("INPAINTERZ_SHARED", Path(__file__).resolve().parents[2] / "shared"))
NTSC = Fraction(24000, 1001)


# ---------------------------------------------------------------- helpers

def pattern_frame(i: int, h: int, w: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (i * 5) % 256
    img[..., 2] = (np.arange(w) * 255 // max(1, w - 1)).astype(np.uint8)[None]
    x = (i * 3) % (w - 8)
    img[h // 4: h // 4 + 8, x: x + 8, 1] = 255
    return img


def make_clip(path: Path, n: int = 48, fps=NTSC, w: int = 96, h: int = 64, codec: str = "libx264",
              pix: str = "yuv420p", audio: str | None = "aac", burst_frame: int | None = None,
              gop: int | None = None, pts_of=None, timecode: str | None = None, rotation: int = 0) -> Path:
    """A small test clip; audio is a 440 Hz tone (or silence with one tone burst during `burst_frame`)."""
    sr = 48000
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix
        vs.time_base = 1 / Fraction(fps)
        if gop:
            vs.codec_context.gop_size = gop
        if timecode:
            vs.metadata["timecode"] = timecode
        if rotation:
            vs.set_display_rotation(rotation)
        a = None
        if audio:
            layout = "mono" if audio == "pcm_u8" else "stereo"
            a = out.add_stream(audio, rate=sr, layout=layout)
        total, done = int(round(float(n / Fraction(fps)) * sr)), 0
        for i in range(n):
            f = av.VideoFrame.from_ndarray(pattern_frame(i, h, w), format="rgb24")
            f.pts = pts_of(i) if pts_of else i
            for p in vs.encode(f):
                out.mux(p)
            while a is not None and done < min(total, int((i + 1) / Fraction(fps) * sr)):
                k = min(1024, total - done)
                t = np.arange(done, done + k) / sr
                s = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
                if burst_frame is not None:
                    lo, hi = burst_frame / Fraction(fps), (burst_frame + 1) / Fraction(fps)
                    s[(t < float(lo)) | (t >= float(hi))] = 0
                if audio == "pcm_u8":
                    af = av.AudioFrame.from_ndarray(((s + 1) * 127).astype(np.uint8)[None], format="u8", layout="mono")
                else:
                    af = av.AudioFrame.from_ndarray(np.stack([s, s]), format="fltp", layout="stereo")
                af.sample_rate, af.pts = sr, done
                done += k
                for p in a.encode(af):
                    out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if a is not None:
            for p in a.encode():
                out.mux(p)
    return path


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v))
        info = {"frames": n, "fps": v.guessed_rate, "size": (v.codec_context.width, v.codec_context.height),
                "codec": v.codec_context.name}
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            samples, first = 0, None
            rate = a.codec_context.sample_rate
            for fr in c.decode(a):
                if first is None:
                    first = float(fr.pts * fr.time_base)
                samples += fr.samples
            info["audio"] = {"codec": a.codec_context.name, "seconds": samples / rate, "start": first}
    return info


def audio_onset(path: Path, level: float = 0.1) -> float:
    """Seconds (from the video's start) at which the audio first gets loud."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v0 = float(v.start_time * v.time_base) if v.start_time is not None else 0.0
        a = c.streams.audio[0]
        for fr in c.decode(a):
            x = fr.to_ndarray()
            x = x.astype(np.float64) / (127.0 if x.dtype == np.uint8 else 1.0)
            x = np.abs(x - (1.0 if fr.format.name.startswith("u8") else 0.0)).max(axis=0)
            hit = np.nonzero(x > level)[0]
            if hit.size:
                return float(fr.pts * fr.time_base) + hit[0] / fr.sample_rate - v0
    return float("nan")


def run(g: Graph, tmp_path: Path, **kw):
    return g.run(cache_dir=tmp_path / "cache", **kw)


def failure(result, node_id: str) -> str:
    rep = result.nodes[node_id]
    assert rep.status == "failed", f"{node_id} should have failed but is {rep.status}"
    assert rep.exit_code == 2, f"expected a BadInput (exit 2), got: {rep.error}"
    return rep.error


def write_labels(folder: Path, frames: list[np.ndarray], mode: str = "P") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, lab in enumerate(frames):
        if mode == "P":
            im = Image.fromarray(lab.astype(np.uint8), mode="L").convert("P")
            im = Image.frombytes("P", (lab.shape[1], lab.shape[0]), lab.astype(np.uint8).tobytes())
            im.putpalette(PALETTE.tobytes())
        else:
            im = Image.fromarray(lab)
        im.save(folder / f"{i:05d}.png")
    return folder


def moving_disk_masks(n: int, h: int, w: int) -> list[np.ndarray]:
    out = []
    for i in range(n):
        m = np.zeros((h, w), np.uint8)
        cv2.circle(m, (10 + i % (w - 20), h // 2), 6, 1, -1)
        out.append(m)
    return out


def no_partial_files(folder: Path) -> bool:
    return not any(".partial" in p.name for p in folder.rglob("*")) if folder.exists() else True


# ---------------------------------------------------------------- round trips

CODECS = [("h264", ".mp4"), ("h265", ".mp4"), ("ffv1", ".mkv"), ("prores", ".mov")]


@pytest.mark.parametrize("fps", [NTSC, Fraction(25)], ids=["24000_1001", "25"])
@pytest.mark.parametrize("codec,ext", CODECS, ids=[c for c, _ in CODECS])
def test_round_trip_keeps_count_rate_and_size(tmp_path, codec, ext, fps):
    if codec == "prores" and not video_encoder("prores_ks"):
        pytest.skip("this FFmpeg build has no prores_ks encoder")
    make_clip(tmp_path / "plate.mp4", n=29, fps=fps, w=96, h=64, audio=None)
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mp4")
    g.add("WriteVideo", id="write", frames=read.frames, path=f"out/clean{ext}", codec=codec)
    res = run(g, tmp_path)
    assert res.ok, [n.error for n in res.failed]
    orig = res.value("read", "frames")
    back = read_clip(tmp_path, f"out/clean{ext}")
    assert len(back) == len(orig) == 29
    assert back.fps == fps and isinstance(back.fps, Fraction)
    assert (back.width, back.height) == (96, 64)
    info = probe(tmp_path / "out" / f"clean{ext}")
    assert info["frames"] == 29 and info["fps"] == fps
    diff = np.abs(back.read(0, 29).astype(int) - orig.read(0, 29).astype(int))
    if codec == "ffv1":
        assert diff.max() == 0, "ffv1 (bgr0) must give the frames back unchanged"
    else:
        assert diff.mean() < 4


def read_clip(tmp_path: Path, path: str, **params):
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path=path, **params)
    return g.output(read.frames, cache_dir=tmp_path / "cache")


def video_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


@pytest.mark.parametrize("name", ["gop.mp4", "gop.mkv", "gop.mov"])
def test_random_access_matches_sequential_decode(tmp_path, name):
    make_clip(tmp_path / name, n=60, gop=7, audio=None)
    clip = read_clip(tmp_path, name)
    seq = clip.read(0, 60)
    with av.open(str(tmp_path / name)) as c:
        ref = np.stack([video.frame_to_rgb(f, 96, 64) for f in c.decode(video=0)])
    assert np.array_equal(seq, ref)
    rng = np.random.default_rng(0)
    for i in rng.permutation(60)[:25]:
        assert np.array_equal(clip[int(i)], ref[i]), f"frame {i} differs when read out of order"
    # two interleaved walks (a look-ahead and a lagging pass) read correctly
    for i in range(0, 50):
        assert np.array_equal(clip[i + 10], ref[i + 10])
        assert np.array_equal(clip[i], ref[i])


def test_first_last_and_scale(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=40, audio=None)
    clip = read_clip(tmp_path, "plate.mp4", first=5, last=14, scale=0.5)
    assert len(clip) == 10 and (clip.width, clip.height) == (48, 32)
    assert clip.source.first == 5
    full = read_clip(tmp_path, "plate.mp4")
    small = cv2.resize(full[5], (48, 32), interpolation=cv2.INTER_AREA)
    assert np.abs(clip[0].astype(int) - small.astype(int)).mean() < 6


def test_read_and_write_images_round_trip(tmp_path):
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(12):
        cv2.imwrite(str(seq / f"shot.{1001 + i:04d}.png"), cv2.cvtColor(pattern_frame(i, 40, 60), cv2.COLOR_RGB2BGR))
    g = Graph(base_dir=tmp_path)
    r = g.add("ReadImages", id="read", path="seq/shot.####.png", fps="23.976")
    g.add("WriteImages", id="write", frames=r.frames, path="out/copy.%04d.png", start=1)
    g.add("WriteVideo", id="video", frames=r.frames, path="out/lossless.mkv", codec="ffv1")
    res = run(g, tmp_path)
    assert res.ok, [n.error for n in res.failed]
    clip = res.value("read", "frames")
    assert len(clip) == 12 and clip.fps == NTSC and clip.source is None
    files = sorted((tmp_path / "out").glob("copy.*.png"))
    assert [f.name for f in files][:2] == ["copy.0001.png", "copy.0002.png"] and len(files) == 12
    for i, f in enumerate(files):
        assert np.array_equal(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), pattern_frame(i, 40, 60))
    info = probe(tmp_path / "out" / "lossless.mkv")
    assert info["frames"] == 12 and info["fps"] == NTSC


def test_images_16bit_gray_and_alpha_are_converted_with_a_note(tmp_path):
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(3):
        img16 = np.full((20, 30), 257 * (10 + i), np.uint16)
        cv2.imwrite(str(seq / f"{i:03d}.png"), img16)
    g = Graph(base_dir=tmp_path)
    g.add("ReadImages", id="read", path="seq")
    res = run(g, tmp_path)
    assert res.ok
    clip = res.value("read", "frames")
    assert clip.read(0, 3)[:, 0, 0, 0].tolist() == [10, 11, 12]
    notes = " ".join(res.nodes["read"].notes)
    assert "16-bit" in notes and "grey" in notes


# ---------------------------------------------------------------- audio

def test_audio_survives_a_graph(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=48, audio="aac")
    write_labels(tmp_path / "mattes", moving_disk_masks(48, 64, 96))
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mp4")
    masks = g.add("ReadMasks", id="masks", path="mattes")
    grow = g.add("DilateMask", id="grow", masks=masks.masks, radius=3)
    view = g.add("OverlayMasks", id="view", frames=read.frames, masks=grow.masks)
    g.add("WriteVideo", id="write", frames=view.frames, path="out/clean.mp4")
    res = run(g, tmp_path)
    assert res.ok, [n.error for n in res.failed]
    info = probe(tmp_path / "out" / "clean.mp4")
    assert info["frames"] == 48 and info["fps"] == NTSC
    assert info["audio"]["codec"] == "aac"
    assert abs(info["audio"]["seconds"] - 48 / float(NTSC)) < 0.05


def test_range_cuts_the_audio_in_sync(tmp_path):
    # A tone burst plays during frame 20 only; after cutting from frame 12 it must play during frame 8.
    make_clip(tmp_path / "plate.mp4", n=48, audio="aac", burst_frame=20)
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mp4", first=12, last=35)
    g.add("WriteVideo", id="write", frames=read.frames, path="out/cut.mp4")
    res = run(g, tmp_path)
    assert res.ok, [n.error for n in res.failed]
    info = probe(tmp_path / "out" / "cut.mp4")
    assert info["frames"] == 24
    assert abs(info["audio"]["seconds"] - 24 / float(NTSC)) < 0.05
    onset = audio_onset(tmp_path / "out" / "cut.mp4")
    assert abs(onset - 8 / float(NTSC)) < 0.025, f"burst at {onset:.3f}s, expected {8 / float(NTSC):.3f}s"


@pytest.mark.parametrize("source_tc,fps,first,expected", [
    ("01:00:00:00", NTSC, 30, "01:00:01:06"),
    ("00:59:59;28", Fraction(30000, 1001), 4, "01:00:00;02"),
])
def test_timecode_follows_the_cut(tmp_path, source_tc, fps, first, expected):
    make_clip(tmp_path / "plate.mov", n=40, fps=fps, audio=None, timecode=source_tc)
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mov", first=first)
    g.add("WriteVideo", id="write", frames=read.frames, path="out/cut.mov")
    assert run(g, tmp_path).ok
    with av.open(str(tmp_path / "out" / "cut.mov")) as c:
        assert c.streams.video[0].metadata.get("timecode") == expected


def test_display_rotation_is_noted_and_passed_on(tmp_path):
    make_clip(tmp_path / "phone.mp4", n=6, audio=None, rotation=90)
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="phone.mp4")
    g.add("WriteVideo", id="write", frames=read.frames, path="out/clean.mp4")
    res = run(g, tmp_path)
    assert res.ok and any("rotate" in n for n in res.nodes["read"].notes)
    assert (res.value("read", "frames").width, res.value("read", "frames").height) == (96, 64)
    with av.open(str(tmp_path / "out" / "clean.mp4")) as c:
        assert next(c.decode(video=0)).rotation == 90


def test_audio_the_container_refuses_is_reencoded_to_aac(tmp_path):
    make_clip(tmp_path / "plate.mov", n=25, fps=25, audio="pcm_u8")
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mov")
    g.add("WriteVideo", id="write", frames=read.frames, path="out/clean.mp4")
    res = run(g, tmp_path)
    assert res.ok, [n.error for n in res.failed]
    info = probe(tmp_path / "out" / "clean.mp4")
    assert info["audio"]["codec"] == "aac" and abs(info["audio"]["seconds"] - 1.0) < 0.06
    assert any("AAC" in n for n in res.nodes["write"].notes)


def test_audio_off_writes_no_audio(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=10, audio="aac")
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mp4")
    g.add("WriteVideo", id="write", frames=read.frames, path="out/clean.mp4", audio=False)
    assert run(g, tmp_path).ok
    assert "audio" not in probe(tmp_path / "out" / "clean.mp4")


# ---------------------------------------------------------------- masks in and out

def read_masks_value(tmp_path, path, **params):
    g = Graph(base_dir=tmp_path)
    g.add("ReadMasks", id="masks", path=str(path), **params)
    res = run(g, tmp_path)
    assert res.ok, [n.error for n in res.failed]
    return res.value("masks", "masks"), res.nodes["masks"]


def test_palette_label_matte_and_colour_masks_map_to_stable_ids(tmp_path):
    lab = np.zeros((2, 20, 30), np.uint8)
    lab[0, 2:6, 2:6] = 1
    lab[0, 10:14, 10:14] = 3
    lab[1, 2:6, 12:16] = 7
    # palette PNGs: index = id
    masks, _ = read_masks_value(tmp_path, write_labels(tmp_path / "pal", list(lab), "P"))
    assert np.array_equal(masks.read(0, 2), lab)
    # grey label PNGs: value = id
    masks, _ = read_masks_value(tmp_path, write_labels(tmp_path / "grey", list(lab), "L"))
    assert np.array_equal(masks.read(0, 2), lab)
    # 0/255 mattes: white = 1
    masks, _ = read_masks_value(tmp_path, write_labels(tmp_path / "matte", list((lab > 0) * np.uint8(255)), "L"))
    assert np.array_equal(masks.read(0, 2), (lab > 0).astype(np.uint8))
    # DAVIS colours saved as RGB keep their palette ids
    masks, _ = read_masks_value(tmp_path, write_labels(tmp_path / "davis_rgb", list(PALETTE[lab]), "RGB"))
    assert np.array_equal(masks.read(0, 2), lab)
    # arbitrary colours: numbered by sorted colour over the whole sequence, black = 0
    colours = {1: (250, 10, 10), 3: (10, 200, 10), 7: (0, 0, 90)}
    rgb = np.zeros((*lab.shape, 3), np.uint8)
    for i, c in colours.items():
        rgb[lab == i] = c
    masks, rep = read_masks_value(tmp_path, write_labels(tmp_path / "rgb", list(rgb), "RGB"))
    expect = np.zeros_like(lab)
    for new_id, (old, _) in enumerate(sorted(colours.items(), key=lambda kv: kv[1]), 1):
        expect[lab == old] = new_id
    assert np.array_equal(masks.read(0, 2), expect)
    assert any("sorted colour" in n for n in rep.notes)


def test_soft_matte_needs_kind_matte(tmp_path):
    soft = [np.tile(np.arange(0, 250, 2, dtype=np.uint8), (10, 1))]
    folder = write_labels(tmp_path / "soft", soft, "L")
    g = Graph(base_dir=tmp_path)
    g.add("ReadMasks", id="masks", path="soft")
    assert "soft matte" in failure(run(g, tmp_path), "masks")
    masks, _ = read_masks_value(tmp_path, folder, kind="matte", threshold=128)
    assert np.array_equal(masks[0], (soft[0] >= 128).astype(np.uint8))


def test_davis_palette_masks_from_shared_media(tmp_path):
    folder = SHARED / "media" / "schoolgirls_mask"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (shared media not installed)")
    files = sorted(folder.glob("*.png"))
    masks, _ = read_masks_value(tmp_path, folder, last=9)
    assert len(masks) == 10
    for i in (0, 5, 9):
        assert np.array_equal(masks[i], np.asarray(Image.open(files[i])))
    assert set(np.unique(masks.read(0, 10))) - {0}, "the masks hold objects"


def test_write_masks_labels_round_trip_and_mattes(tmp_path):
    labs = moving_disk_masks(6, 40, 60)
    for m in labs:
        m[30:36, 5:12] = 2
    write_labels(tmp_path / "in", labs, "P")
    g = Graph(base_dir=tmp_path)
    m = g.add("ReadMasks", id="masks", path="in")
    g.add("WriteMasks", id="labels", masks=m.masks, path="out/labels")
    g.add("WriteMasks", id="mattes", masks=m.masks, path="out/mattes/obj{id:02d}.%04d.png", mode="mattes")
    g.add("WriteMasks", id="folders", masks=m.masks, path="out/perobj", mode="mattes", feather=4.0)
    res = run(g, tmp_path)
    assert res.ok, [n.error for n in res.failed]
    back = [np.asarray(Image.open(f)) for f in sorted((tmp_path / "out" / "labels").glob("*.png"))]
    assert Image.open(tmp_path / "out" / "labels" / "00000.png").mode == "P"
    assert np.array_equal(np.stack(back), np.stack(labs))
    for obj in (1, 2):
        files = sorted((tmp_path / "out" / "mattes").glob(f"obj{obj:02d}.*.png"))
        assert len(files) == 6
        for i, f in enumerate(files):
            matte = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            assert matte.dtype == np.uint8 and set(np.unique(matte)) <= {0, 255}
            assert np.array_equal(matte == 255, labs[i] == obj)
    soft = cv2.imread(str(tmp_path / "out" / "perobj" / "obj01" / "00000.png"), cv2.IMREAD_UNCHANGED)
    assert (soft[labs[0] == 1] == 255).all()
    ring = (cv2.dilate((labs[0] == 1).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & (labs[0] != 1)
    assert 0 < soft[ring].min() < 255 and soft[0, 59] == 0
    # a second run finds its files intact and re-runs nothing
    again = run(g, tmp_path)
    assert again.ran() == set()


# ---------------------------------------------------------------- bad inputs

def test_missing_video_is_a_graph_error_naming_the_file(tmp_path):
    g = Graph(base_dir=tmp_path)
    g.add("ReadVideo", id="read", path="nope.mp4")
    with pytest.raises(GraphError, match="nope.mp4"):
        run(g, tmp_path)
    res = run(g, tmp_path, check_files=False)
    assert "nope.mp4" in failure(res, "read")


@pytest.mark.parametrize("damage", ["random", "truncated", "zero_frames", "empty"])
def test_damaged_video_is_bad_input_naming_the_file(tmp_path, damage):
    bad = tmp_path / "bad.mp4"
    if damage == "random":
        bad.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    elif damage == "truncated":
        make_clip(tmp_path / "good.mp4", n=48, audio=None)
        data = (tmp_path / "good.mp4").read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "zero_frames":
        with av.open(str(bad), "w") as out:
            s = out.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
            out.start_encoding()
    else:
        bad.write_bytes(b"")
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="bad.mp4")
    g.add("WriteVideo", id="write", frames=read.frames, path="out/clean.mp4")
    res = run(g, tmp_path)
    assert str(bad) in failure(res, "read")
    assert res.exit_code() == 2
    assert not (tmp_path / "out" / "clean.mp4").exists() and no_partial_files(tmp_path / "out")


def test_variable_frame_rate_is_refused(tmp_path):
    # Frame 10 is held for three frame durations: a dropped-frame VFR file.
    make_clip(tmp_path / "vfr.mkv", n=20, fps=25, audio=None, pts_of=lambda i: i if i < 10 else i + 2)
    g = Graph(base_dir=tmp_path)
    g.add("ReadVideo", id="read", path="vfr.mkv")
    message = failure(run(g, tmp_path), "read")
    assert "variable frame rate" in message
    # The advice names this file and a new one beside it, so it runs as printed.
    assert f"ffmpeg -i {tmp_path / 'vfr.mkv'} " in message and str(tmp_path / "vfr_cfr.mkv") in message


def test_out_of_range_params_are_bad_input(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=10, audio=None)
    g = Graph(base_dir=tmp_path)
    g.add("ReadVideo", id="read", path="plate.mp4", first=3, last=12)
    assert "param 'last'" in failure(run(g, tmp_path), "read")


def test_unreadable_and_resized_images_are_bad_input(tmp_path):
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(4):
        cv2.imwrite(str(seq / f"f.{i:04d}.png"), pattern_frame(i, 20, 30))
    (seq / "f.0002.png").write_bytes(b"not a png at all")
    g = Graph(base_dir=tmp_path)
    g.add("ReadImages", id="read", path="seq/f.%04d.png")
    assert "f.0002.png" in failure(run(g, tmp_path), "read")
    cv2.imwrite(str(seq / "f.0002.png"), pattern_frame(2, 22, 30))
    assert "f.0002.png" in failure(run(g, tmp_path), "read")
    (seq / "f.0002.png").unlink()
    assert "missing" in failure(run(g, tmp_path), "read")


def test_mask_count_and_size_mismatch_are_bad_input_naming_both_inputs(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=10, audio=None)
    write_labels(tmp_path / "short", moving_disk_masks(8, 64, 96))
    write_labels(tmp_path / "small", moving_disk_masks(10, 32, 48))
    for folder, words in (("short", ("8", "10")), ("small", ("48x32", "96x64"))):
        g = Graph(base_dir=tmp_path)
        read = g.add("ReadVideo", id="read", path="plate.mp4")
        masks = g.add("ReadMasks", id="masks", path=folder)
        g.add("OverlayMasks", id="view", frames=read.frames, masks=masks.masks)
        msg = failure(run(g, tmp_path), "view")
        assert "'frames'" in msg and "'masks'" in msg and all(w in msg for w in words)


def test_unwritable_output_folder_is_bad_input(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=5, audio=None)
    (tmp_path / "some_file.txt").write_text("a file, not a folder")
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mp4")
    g.add("WriteVideo", id="write", frames=read.frames, path="some_file.txt/out.mp4")
    g.add("WriteImages", id="images", frames=read.frames, path="some_file.txt/sub/img.%04d.png")
    g.add("WriteMasks", id="mattes", masks=g.add("ReadMasks", id="m", path="m").masks,
          path="some_file.txt/mattes", mode="mattes")
    write_labels(tmp_path / "m", moving_disk_masks(5, 64, 96))
    # Validation finds it before anything runs (exit 2) ...
    with pytest.raises(GraphError, match="some_file.txt"):
        run(g, tmp_path)
    # ... and the nodes themselves refuse it too, naming the file in the way.
    res = run(g, tmp_path, check_files=False)
    for node_id in ("write", "images", "mattes"):
        assert "some_file.txt" in failure(res, node_id)
    assert (tmp_path / "some_file.txt").read_text() == "a file, not a folder"


def test_cli_exit_code_2_for_a_damaged_video(tmp_path, capsys):
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 1000)
    doc = {"format": "inpainterz-graph", "version": 1,
           "nodes": {"read": {"type": "ReadVideo", "params": {"path": "bad.mp4"}},
                     "write": {"type": "WriteVideo", "inputs": {"frames": "read.frames"},
                               "params": {"path": "out.mp4"}}}}
    (tmp_path / "g.json").write_text(json.dumps(doc))
    code = cli_main(["run", str(tmp_path / "g.json"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 2
    assert "bad.mp4" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


# ---------------------------------------------------------------- atomic writes

class _BrokenReader:
    """Frames that fail part-way through, like a source that dies in the middle of a render."""

    kind = "test.broken"
    natural_chunk = 4

    def __init__(self, good: int):
        self.good = good

    def read(self, start, stop):
        if stop > self.good:
            raise RuntimeError("simulated failure mid-clip")
        return np.stack([pattern_frame(i, 64, 96) for i in range(start, stop)])

    def to_meta(self, base):
        return {"kind": self.kind, "good": self.good}


register_reader(_BrokenReader.kind, lambda meta, base: _BrokenReader(meta["good"]))


@node("BrokenFrames", category="test", outputs=[Output("frames", "Frames")])
def broken_frames(ctx):
    return Frames(_BrokenReader(12), 20, 64, 96, "broken-frames-v1", fps=Fraction(25))


def test_failed_write_leaves_the_previous_file_untouched(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=20, fps=25, audio=None)
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mp4")
    g.add("WriteVideo", id="write", frames=read.frames, path="out/clean.mp4")
    g.add("WriteImages", id="images", frames=read.frames, path="out/img.%04d.png")
    assert run(g, tmp_path).ok
    good = (tmp_path / "out" / "clean.mp4").read_bytes()
    good_png = (tmp_path / "out" / "img.0005.png").read_bytes()

    reg = load_registry()
    reg.add(broken_frames, "test")
    g2 = Graph(registry=reg, base_dir=tmp_path)
    bad = g2.add("BrokenFrames", id="bad")
    g2.add("WriteVideo", id="write", frames=bad.frames, path="out/clean.mp4")
    g2.add("WriteImages", id="images", frames=bad.frames, path="out/img.%04d.png")
    res = g2.run(cache_dir=tmp_path / "cache", no_cache=True)
    assert res.status("write") == "failed" and res.status("images") == "failed"
    assert (tmp_path / "out" / "clean.mp4").read_bytes() == good
    assert (tmp_path / "out" / "img.0005.png").read_bytes() == good_png
    assert no_partial_files(tmp_path / "out")


def test_cancelled_write_leaves_no_partial_file(tmp_path):
    import threading

    make_clip(tmp_path / "plate.mp4", n=60, fps=25, audio=None)
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mp4")
    g.add("WriteVideo", id="write", frames=read.frames, path="out/clean.mp4")
    cancel = threading.Event()

    def on_event(ev):
        if ev.node == "write" and ev.kind == "running" and (ev.fraction or 0) > 0:
            cancel.set()

    res = run(g, tmp_path, cancel=cancel, on_event=on_event)
    assert res.cancelled
    assert not (tmp_path / "out" / "clean.mp4").exists() and no_partial_files(tmp_path / "out")


# ---------------------------------------------------------------- caching

def test_identical_copy_reruns_only_the_reader(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=12, audio="aac")
    write_labels(tmp_path / "mattes", moving_disk_masks(12, 64, 96))
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mp4")
    masks = g.add("ReadMasks", id="masks", path="mattes")
    view = g.add("OverlayMasks", id="view", frames=read.frames, masks=masks.masks)
    g.add("WriteVideo", id="write", frames=view.frames, path="out/view.mp4", audio=False)
    assert run(g, tmp_path).ran() == {"read", "masks", "view", "write"}
    shutil.copyfile(tmp_path / "plate.mp4", tmp_path / "copy.mp4")
    g.set("read", path="copy.mp4")
    assert run(g, tmp_path).ran() == {"read"}
    # touching the masks without changing them re-runs only the mask reader
    os.utime(tmp_path / "mattes" / "00003.png", (1, 1))
    assert run(g, tmp_path).ran() == {"masks"}
    # a downstream edit reads the cached lazy clips back from the cache
    g.set("view", opacity=0.8)
    res = run(g, tmp_path)
    assert res.ran() == {"view", "write"}


def test_cache_entries_name_reader_kinds_and_old_entries_never_crash(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=8, audio=None)
    g = Graph(base_dir=tmp_path)
    read = g.add("ReadVideo", id="read", path="plate.mp4")
    g.add("WriteVideo", id="write", frames=read.frames, path="out.mp4", audio=False)
    first = run(g, tmp_path)
    meta_file = first.cache.lookup(first.nodes["read"].key).path / "meta.json"
    meta = json.loads(meta_file.read_text())
    reader = meta["outputs"]["frames"]["reader"]
    assert reader["kind"] == video.READER_KIND and "module" not in reader  # a kind, not a code path

    # An entry written before readers were found by kind names the module too: still a hit.
    reader["module"] = "inpainterz.nodes.video"
    meta_file.write_text(json.dumps(meta))
    again = run(g, tmp_path)
    assert again.status("read") == "cached" and again.value("read", "frames").count == 8

    # One whose kind nobody registers (code since moved or removed) is a miss: rendered again.
    reader.update(kind="inpainterz.gone", module="inpainterz.nodes.gone")
    meta_file.write_text(json.dumps(meta))
    third = run(g, tmp_path)
    assert third.status("read") == "ran" and third.ok
    assert third.value("read", "frames").count == 8


# ---------------------------------------------------------------- encoder choices

def test_odd_size_is_refused_for_yuv420p_and_kept_with_yuv444p(tmp_path):
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(5):
        cv2.imwrite(str(seq / f"{i:04d}.png"), pattern_frame(i, 33, 51))
    g = Graph(base_dir=tmp_path)
    r = g.add("ReadImages", id="read", path="seq")
    g.add("WriteVideo", id="write", frames=r.frames, path="out/odd.mp4")
    msg = failure(run(g, tmp_path), "write")
    assert "51x33" in msg and "yuv444p" in msg
    assert not (tmp_path / "out" / "odd.mp4").exists() and no_partial_files(tmp_path / "out")
    g.set("write", pix_fmt="yuv444p")
    assert run(g, tmp_path).ok
    info = probe(tmp_path / "out" / "odd.mp4")
    assert info["size"] == (51, 33) and info["frames"] == 5


def test_codec_the_container_cannot_hold_is_bad_input(tmp_path):
    make_clip(tmp_path / "plate.mp4", n=5, audio=None)
    g = Graph(base_dir=tmp_path)
    r = g.add("ReadVideo", id="read", path="plate.mp4")
    g.add("WriteVideo", id="write", frames=r.frames, path="out/master.mp4", codec="prores")
    assert ".mov" in failure(run(g, tmp_path), "write")
    assert no_partial_files(tmp_path / "out")


def test_frame_rate_param_of_read_images_is_checked(tmp_path):
    (tmp_path / "seq").mkdir()
    cv2.imwrite(str(tmp_path / "seq" / "0000.png"), pattern_frame(0, 16, 16))
    g = Graph(base_dir=tmp_path)
    g.add("ReadImages", id="read", path="seq", fps="fast")
    with pytest.raises(GraphError, match="frame rate"):
        run(g, tmp_path)
    assert video.parse_rate("29.97") == Fraction(30000, 1001) and video.parse_rate(24) == 24


# ---------------------------------------------------------------- lazy clips, shipped graph, shared media

def test_reader_copies_nothing_into_the_cache_and_is_thread_safe(tmp_path):
    import threading

    make_clip(tmp_path / "plate.mp4", n=40, gop=5, audio=None)
    clip = read_clip(tmp_path, "plate.mp4")
    cached = sum(f.stat().st_size for f in (tmp_path / "cache").rglob("*") if f.is_file())
    assert cached < 20_000, f"the cache holds {cached} bytes for a lazy clip"
    ref = clip.read(0, 40)
    bad = []

    def walk(order):
        for i in order:
            if not np.array_equal(clip[int(i)], ref[i]):
                bad.append(int(i))

    rng = np.random.default_rng(5)
    threads = [threading.Thread(target=walk, args=(rng.permutation(40),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_shipped_remove_with_mattes_graph_runs(tmp_path):
    src = Path(__file__).resolve().parents[1] / "graphs" / "remove_with_mattes.json"
    text = src.read_text()
    assert Graph.load(src).dumps() == text, "the graph file is saved in canonical form"
    shutil.copyfile(src, tmp_path / "g.json")
    make_clip(tmp_path / "plate.mp4", n=12, audio="aac")
    write_labels(tmp_path / "mattes", moving_disk_masks(12, 64, 96))
    code = cli_main(["run", str(tmp_path / "g.json"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    info = probe(tmp_path / "out" / "clean.mp4")
    assert info["frames"] == 12 and info["fps"] == NTSC and "audio" in info
    mattes = sorted((tmp_path / "out" / "mattes" / "obj01").glob("*.png"))
    assert len(mattes) == 12
    grown = cv2.imread(str(mattes[0]), cv2.IMREAD_UNCHANGED)
    assert (grown == 255).sum() > (moving_disk_masks(1, 64, 96)[0] > 0).sum(), "the exported mattes are the grown ones"


def test_shared_clip_reads_with_exact_count_and_rate(tmp_path):
    clip_path = SHARED / "media" / "schoolgirls.mp4"
    if not clip_path.is_file():
        pytest.skip(f"{clip_path} is absent (shared media not installed)")
    clip = read_clip(tmp_path, str(clip_path))
    assert len(clip) == 80 and clip.fps == 24 and (clip.width, clip.height) == (432, 240)
    with av.open(str(clip_path)) as c:
        last = [f for f in c.decode(video=0)][-1]
    assert np.array_equal(clip[79], video.frame_to_rgb(last, 432, 240))
