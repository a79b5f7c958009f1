"""E2FGVI generators, loops and the InpaintE2FGVI node on small frames.

The checkpoints cannot be downloaded here: the parity kit's
make_test_weights.py writes stand-ins with exactly the published keys. Tests
that need the kit skip when ../shared is absent. Parity on the kit's vectors
is in test_e2fgvi_parity.py.
"""
import importlib.util
import json
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest
import torch
from conftest import node_context, shared_path, torch_threads
from inpainterz.engine import BadInput, data
from inpainterz.nodes import inpaint_e2fgvi as node_module
from inpainterz.nodes.e2fgvi import checkpoint, loop

MODELS = ("e2fgvi", "e2fgvi_hq")


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def kit_state_dict(model):
    script = shared_path("e2fgvi", "make_test_weights.py")
    spec = importlib.util.spec_from_file_location("make_test_weights", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.make_state_dict(model)


@pytest.fixture(scope="module")
def hq_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "E2FGVI-HQ-CVPR22.pth"
    torch.save(kit_state_dict("e2fgvi_hq"), path)
    return path


@pytest.fixture(scope="module")
def hq_net(hq_weights):
    return checkpoint.load(hq_weights, "e2fgvi_hq")


def make_ctx(tmp_path):
    return node_context(tmp_path, "InpaintE2FGVI", "fill")


def moving_clip(n, h, w, seed=0):
    """A textured background panning right, with a square object crossing it."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w + 2 * n, 3), dtype=np.uint8)
    base = np.asarray(np.clip(base.astype(np.float32) * 0.5 + 64, 0, 255), np.uint8)
    frames = np.stack([base[:, i:i + w] for i in range(n)])
    masks = np.zeros((n, h, w), np.uint8)
    size = max(4, h // 4)
    for i in range(n):
        x = (i * 3) % max(1, w - size)
        frames[i, h // 3:h // 3 + size, x:x + size] = (250, 20, 20)
        masks[i, h // 3 - 2:h // 3 + size + 2, max(0, x - 2):x + size + 2] = 3  # any id > 0 is a hole
    return frames, masks


def write_clip(tmp_path, name, frames, masks):
    fw = data.frames_writer(tmp_path / f"{name}_frames", frames.shape[1], frames.shape[2], Fraction(25))
    fw.append(frames)
    mw = data.masks_writer(tmp_path / f"{name}_masks", masks.shape[1], masks.shape[2])
    mw.append(masks)
    return fw.close(), mw.close()


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize("model", MODELS)
def test_state_dict_has_exactly_the_published_keys_shapes_and_dtypes(model):
    published = json.loads(shared_path("e2fgvi", "state_dict_keys.json").read_text())[model]
    own = checkpoint.build(model).state_dict()
    assert sorted(own) == sorted(published)
    for key, entry in published.items():
        assert list(own[key].shape) == entry["shape"], key
        assert str(own[key].dtype) == "torch." + entry["dtype"], key
        if "value" in entry:  # index buffers are fixed by the architecture
            assert own[key].flatten().tolist() == entry["value"], key


@pytest.mark.parametrize("model", MODELS)
def test_kit_weights_load_strictly_and_safely(model, tmp_path):
    path = tmp_path / f"{model}.pth"
    torch.save(kit_state_dict(model), path)
    net = checkpoint.load(path, model)
    assert not net.training
    assert torch.equal(net.state_dict()["sc.embedding.weight"], torch.load(path, weights_only=True)["sc.embedding.weight"])


def test_building_downloads_nothing(monkeypatch):
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError("building the generator tried to download something")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    for model in MODELS:
        checkpoint.build(model)


# ---------------------------------------------------------------- checkpoint errors


def test_missing_checkpoint_names_the_file_and_the_fetch_command(tmp_path):
    with pytest.raises(BadInput, match="does not exist") as err:
        checkpoint.load(tmp_path / "E2FGVI-CVPR22.pth", "e2fgvi")
    assert "E2FGVI-CVPR22.pth" in str(err.value) and "inpainterz weights fetch e2fgvi" in str(err.value)

    ctx = make_ctx(tmp_path)
    frames, masks = write_clip(tmp_path, "clip", *moving_clip(2, 60, 108))
    with pytest.raises(BadInput, match="inpainterz weights fetch e2fgvi_hq"):
        node_module.inpaint_e2fgvi.render(ctx, frames, masks, model="e2fgvi_hq",
                                          checkpoint=str(tmp_path / "nowhere" / "E2FGVI-HQ-CVPR22.pth"),
                                          neighbor_stride=5, ref_step=10, num_ref=-1, mode="exact",
                                          max_long_edge=0, fp16=False)


def test_checkpoint_of_the_other_model_says_which_model_it_is(tmp_path):
    hq = tmp_path / "E2FGVI-HQ-CVPR22.pth"
    torch.save(checkpoint.build("e2fgvi_hq").state_dict(), hq)
    with pytest.raises(BadInput) as err:
        checkpoint.load(hq, "e2fgvi")
    assert "e2fgvi_hq checkpoint" in str(err.value) and "model=e2fgvi_hq" in str(err.value)

    plain = tmp_path / "E2FGVI-CVPR22.pth"
    torch.save(checkpoint.build("e2fgvi").state_dict(), plain)
    with pytest.raises(BadInput, match="is an e2fgvi checkpoint"):
        checkpoint.load(plain, "e2fgvi_hq")


def test_checkpoint_of_another_model_family_is_named(tmp_path):
    sam = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 16, 16),
                "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": torch.zeros(2, 128),
                "mask_decoder.iou_token.weight": torch.zeros(1, 256)}, sam)
    with pytest.raises(BadInput) as err:
        checkpoint.load(sam, "e2fgvi")
    assert "looks like a SAM (segment-anything) checkpoint" in str(err.value)
    assert "size mismatch" not in str(err.value)


def test_corrupt_checkpoint_says_so_and_to_download_again(tmp_path):
    good = tmp_path / "good.pth"
    torch.save(checkpoint.build("e2fgvi_hq").state_dict(), good)
    cut = tmp_path / "E2FGVI-HQ-CVPR22.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"<html>404 not found</html>")
    for path in (cut, garbage):
        with pytest.raises(BadInput) as err:
            checkpoint.load(path, "e2fgvi_hq")
        assert "is not a readable E2FGVI (e2fgvi_hq) checkpoint" in str(err.value)
        assert "Fetch it again with: inpainterz weights fetch e2fgvi_hq" in str(err.value)


# ---------------------------------------------------------------- loop pieces


def test_published_reference_choice():
    s = loop.Settings()
    plan = loop.schedule(23, s, "exact")
    assert [f for f, _, _ in plan] == [0, 5, 10, 15, 20]
    _, local, refs = plan[2]
    assert local == list(range(5, 16)) and refs == [0, 20]
    # num_ref > 0: published spacing from f - ref_step * (num_ref // 2), never past the clip.
    assert loop.published_ref_ids(15, list(range(10, 21)), 23, 10, 2) == [5]
    assert all(r < 23 for _, _, refs in loop.schedule(23, loop.Settings(num_ref=4), "exact") for r in refs)


def test_bounded_references_stay_near_the_window():
    s = loop.Settings()
    for f, local, refs in loop.schedule(500, s, "bounded"):
        assert len(refs) <= loop.BOUNDED_DEFAULT_REFS
        assert all(r % 10 == 0 and abs(r - f) <= 30 and r not in local for r in refs)


def test_mirror_padding_matches_the_published_flip_and_crop():
    x = torch.arange(2 * 3 * 50 * 100, dtype=torch.float32).view(2, 3, 50, 100)
    padded = loop.mirror_pad(x, 60, 108)
    assert padded.shape == (2, 3, 60, 108)
    assert torch.equal(padded[..., :50, :100], x)
    assert torch.equal(padded[..., 50:60, :100], torch.flip(x, [2])[..., :10, :])
    assert torch.equal(padded[..., :50, 100:], torch.flip(x, [3])[..., :, :8])


def test_window_average_truncates_like_the_published_loop():
    a = np.array([[[3, 4, 255]]], np.uint8)
    b = np.array([[[4, 4, 0]]], np.uint8)
    c = np.array([[[5, 9, 1]]], np.uint8)
    comp = loop.blend(loop.blend(loop.blend(None, a), b), c)
    assert comp.astype(np.uint8).tolist() == [[[4, 6, 64]]]  # (3.5*.5+2.5) -> 4.25, ...


def test_decoding_a_box_gives_the_full_decode_inside_it(hq_net):
    torch.manual_seed(1)
    feat = torch.randn(1, 128, 30, 54)
    with torch.inference_mode():
        full = hq_net.decode(feat)
        for box in (((0, 120), (0, 216)), ((17, 64), (100, 216)), ((0, 1), (0, 1)), ((119, 120), (5, 9))):
            (y0, y1), (x0, x1) = box
            assert (hq_net.decode_box(feat, box) - full[..., y0:y1, x0:x1]).abs().max() < 1e-5


def test_fast_kernels_agree_with_the_published_ones(hq_net):
    torch.manual_seed(0)
    x = torch.rand(1, 4, 3, 60, 108) * 2 - 1
    with torch.inference_mode():
        slow, _ = hq_net(x, 3, fast=False)
        fast, _ = hq_net(x, 3, fast=True)
    assert (slow - fast).abs().max() < 1e-4


def test_exact_loop_equals_the_reference_loop_and_streams_results(hq_net):
    frames, masks = moving_clip(12, 60, 108)
    expected = loop.reference_loop(hq_net, frames, masks, loop.Settings(), threads=1)
    got = {}
    reads = []

    def read(a, b):
        reads.append((a, b))
        return frames[a:b], masks[a:b]

    def write(i, frame):
        got[i] = (frame, max(b for _, b in reads))

    loop.inpaint(hq_net, read, 12, (60, 108), write, loop.Settings(), mode="exact", threads=1)
    assert sorted(got) == list(range(12))
    out = np.stack([got[i][0] for i in range(12)])
    diff = np.abs(out.astype(int) - expected.astype(int))
    assert diff.max() <= 1
    hole = masks > 0
    assert np.array_equal(out[~hole], frames[~hole])
    # Frame 0 was final (and written) before the end of the clip was read.
    assert got[0][1] < 12


# ---------------------------------------------------------------- bounded memory


class CheapNet(torch.nn.Module):
    """The generator's staged interface with trivial maths: the loop's memory behaviour, fast.

    complete() mixes in the references so a window's output depends on them.
    """

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def check_size(self, h, w):
        pass

    def encode(self, x):
        return torch.nn.functional.avg_pool2d(x, 4)

    def flow_frames(self, x):
        return torch.nn.functional.avg_pool2d((x + 1) / 2, 4)

    def flow(self, a, b):
        return (b - a)[:, :2]

    def complete(self, local, ref, fwd, bwd, n_out=None):
        out = local + (ref.mean(1, keepdim=True) if ref.shape[1] else 0)
        return out[0]

    def decode(self, feat):
        return torch.tanh(torch.nn.functional.interpolate(feat, scale_factor=4))

    def decode_box(self, feat, box):
        (y0, y1), (x0, x1) = box
        return self.decode(feat)[..., y0:y1, x0:x1]


def run_bounded(n, h=60, w=108, mode="bounded"):
    frames, masks = moving_clip(n, h, w, seed=1)
    last_read = [0]
    lag = [0]
    written = []

    def read(a, b):
        last_read[0] = max(last_read[0], b)
        return frames[a:b].copy(), masks[a:b].copy()

    def write(i, frame):
        written.append(i)
        lag[0] = max(lag[0], last_read[0] - i)

    tracemalloc.start()
    stats = loop.inpaint(CheapNet(), read, n, (h, w), write, loop.Settings(), mode=mode, threads=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert written == list(range(n))
    return stats, lag[0], peak


def test_bounded_mode_memory_stays_flat_as_the_clip_grows():
    short_stats, short_lag, short_peak = run_bounded(150)
    long_stats, long_lag, long_peak = run_bounded(450)
    # frames with tensors held, and composites waiting for their last window
    assert long_stats.peak_cached_frames == short_stats.peak_cached_frames <= 2 * 5 + 1 + loop.BOUNDED_DEFAULT_REFS
    assert long_stats.peak_pending_outputs == short_stats.peak_pending_outputs <= 2 * 5 + 1
    # results leave as soon as they are final: never more than a window plus the reference reach behind reading
    assert long_lag == short_lag <= 2 * 5 + 1 + 10 * loop.BOUNDED_DEFAULT_REFS // 2
    # and what is allocated on the Python side (frames read, composites) does not grow with the clip
    assert long_peak < short_peak * 1.2
    assert long_stats.encoded_frames == 450  # each frame encoded once


def test_exact_mode_with_whole_clip_references_does_grow():
    # The contrast that makes the bounded test meaningful.
    short_stats, _, _ = run_bounded(150, mode="exact")
    long_stats, _, _ = run_bounded(450, mode="exact")
    assert long_stats.peak_cached_frames > short_stats.peak_cached_frames + 20


def test_exact_mode_encodes_each_frame_once_and_each_pair_once():
    frames, masks = moving_clip(23, 60, 108)
    stats = loop.inpaint(CheapNet(), lambda a, b: (frames[a:b], masks[a:b]), 23, (60, 108), lambda i, f: None,
                         loop.Settings(), mode="exact", threads=1)
    assert stats.encoded_frames == 23 and stats.flow_pairs == 22 and stats.windows == 5


# ---------------------------------------------------------------- the node


def test_node_fills_at_half_size_and_keeps_full_resolution_pixels_outside_the_mask(tmp_path, hq_weights):
    frames_np, masks_np = moving_clip(7, 120, 216, seed=3)
    frames, masks = write_clip(tmp_path, "clip", frames_np, masks_np)
    ctx = make_ctx(tmp_path)
    out = node_module.inpaint_e2fgvi.render(ctx, frames, masks, model="e2fgvi_hq", checkpoint=str(hq_weights),
                                            neighbor_stride=5, ref_step=10, num_ref=-1, mode="exact",
                                            max_long_edge=108, fp16=False)["frames"]
    assert (len(out), out.height, out.width) == (7, 120, 216)
    result = out.read(0, 7)
    hole = masks_np > 0
    assert np.array_equal(result[~hole], frames_np[~hole])
    assert not np.array_equal(result[hole], frames_np[hole])  # something was filled
    assert any("108x60" in n for n in ctx._report.notes)


def test_working_size_rules():
    assert node_module.working_size("e2fgvi", 1080, 1920, 0) == (240, 432)
    assert node_module.working_size("e2fgvi_hq", 1080, 1920, 0) == (1080, 1920)
    assert node_module.working_size("e2fgvi_hq", 1080, 1920, 960) == (540, 960)
    assert node_module.working_size("e2fgvi_hq", 240, 432, 960) == (240, 432)


def test_shrinking_a_mask_keeps_every_partly_covered_pixel_a_hole():
    frames = np.zeros((1, 120, 216, 3), np.uint8)
    masks = np.zeros((1, 120, 216), np.uint8)
    masks[0, 51, 101] = 7  # a single full-size pixel
    _, small = node_module.to_working(frames, masks, (60, 108))
    assert small[0, 25, 50] == 1 and small.sum() == 1


def test_listing_the_node_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import inpainterz.nodes.inpaint_e2fgvi as m; "
            "print(m.inpaint_e2fgvi.id, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["InpaintE2FGVI", "False"]


def test_bounded_mode_renders_a_span_alone_with_the_bytes_of_a_whole_pass(hq_net):
    n, settings = 30, loop.Settings(neighbor_stride=3, ref_step=4, num_ref=2)
    frames, masks = moving_clip(n, 60, 108, seed=2)
    reach = loop.bounded_reach(settings)
    whole = {}
    loop.inpaint(hq_net, lambda a, b: (frames[a:b], masks[a:b]), n, (60, 108),
                 lambda i, f: whole.setdefault(i, f), settings, mode="bounded", threads=1)
    for wanted in (((12, 14),), ((0, 2), (27, 30))):
        reads, part = set(), {}

        def read(a, b):
            reads.update(range(a, b))
            return frames[a:b], masks[a:b]

        loop.inpaint(hq_net, read, n, (60, 108), lambda i, f: part.setdefault(i, f), settings, mode="bounded",
                     threads=1, wanted=wanted)
        asked = [t for a, b in wanted for t in range(a, b)]
        assert sorted(part) == asked
        assert all(np.array_equal(part[t], whole[t]) for t in asked)
        assert all(any(abs(r - t) <= reach for t in asked) for r in reads)  # it read only within its reach


@pytest.mark.slow
def test_node_in_bounded_mode_rerenders_only_its_window_after_a_mask_edit(tmp_path, hq_weights):
    import cv2

    from inpainterz.engine import Graph

    n = 12
    frames_np, masks_np = moving_clip(n, 60, 108, seed=4)
    for name in ("frames", "masks"):
        (tmp_path / name).mkdir()
    for t in range(n):
        cv2.imwrite(str(tmp_path / "frames" / f"{t:04d}.png"), frames_np[t][:, :, ::-1])
        cv2.imwrite(str(tmp_path / "masks" / f"{t:04d}.png"), (masks_np[t] > 0).astype(np.uint8))
    g = Graph()
    g.add("ReadImages", id="read", path=str(tmp_path / "frames"))
    g.add("ReadMasks", id="mattes", path=str(tmp_path / "masks"))
    params = dict(model="e2fgvi_hq", checkpoint=str(hq_weights), neighbor_stride=1, ref_step=2, num_ref=2,
                  mode="bounded", feather=2.0)
    g.add("InpaintE2FGVI", id="fill", frames="read.frames", masks="mattes.masks", **params)
    assert g.run(cache_dir=tmp_path / "cache", device="cpu").ok
    edited = (masks_np[6] > 0).astype(np.uint8)
    edited[5:15, 5:15] = 1
    cv2.imwrite(str(tmp_path / "masks" / "0006.png"), edited)
    warm = g.run(cache_dir=tmp_path / "cache", device="cpu")
    r = loop.bounded_reach(loop.Settings(neighbor_stride=1, ref_step=2, num_ref=2))
    assert warm.nodes["fill"].frames == {"rendered": 2 * r + 1, "reused": n - 2 * r - 1}
    cold = g.run(cache_dir=tmp_path / "cold", device="cpu")
    assert np.array_equal(warm.value("fill", "frames").read(0, n), cold.value("fill", "frames").read(0, n))
