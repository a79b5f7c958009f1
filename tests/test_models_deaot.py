"""TrackDeAOT on a short clip of small frames, with a checkpoint the test makes."""
from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("aot", reason="deaotpy is not installed (pip install --no-deps deaotpy)")

from conftest import node_context, torch_threads  # noqa: E402
from inpainterz.engine import BadInput, KeyMasks, data  # noqa: E402
from inpainterz.engine import checkpoints as ck  # noqa: E402
from inpainterz.engine.config import RunConfig  # noqa: E402
from inpainterz.engine.models import ModelManager  # noqa: E402
from inpainterz.nodes import track  # noqa: E402

H, W, N = 64, 96, 8


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def make_ctx(tmp_path, manager):
    return node_context(tmp_path, "TrackDeAOT", "track", manager)


def make_frames(tmp_path, n=N):
    rng = np.random.default_rng(0)
    clip = np.zeros((n, H, W, 3), np.uint8)
    for t in range(n):
        clip[t] = rng.integers(0, 255, (H, W, 3), dtype=np.uint8) // 4
        clip[t, 10:30, 5 + 2 * t:25 + 2 * t] = (250, 40, 40)      # object 3 moves right
        clip[t, 40:60, 60:80] = (40, 250, 40)                      # object 7, joins at frame 4
    writer = data.frames_writer(tmp_path / "frames", H, W, Fraction(25))
    writer.append(clip)
    return writer.close()


@pytest.fixture
def checkpoint(deaot_checkpoint):
    return deaot_checkpoint


def run(tmp_path, frames, keymasks, checkpoint, manager=None, **params):
    manager = manager or ModelManager(budget=10**10)
    ctx = make_ctx(tmp_path, manager)
    args = dict(model="r50_deaotl", checkpoint=checkpoint, max_long_edge=96, long_term_mem_gap=2,
                short_term_mem_skip=1, long_term_mem_max=3, fp16=False)
    args.update(params)
    return track.track_deaot.render(ctx, frames=frames, keymasks=keymasks, **args)["masks"], ctx


def test_working_size_follows_deaot_stride_rules():
    assert track.working_size(480, 854, 1040, True) == (481, 849)
    assert track.working_size(1080, 1920, 1040, True) == (577, 1041)
    assert track.working_size(1080, 1920, 1040, False) == (592, 1040)
    assert track.working_size(64, 96, 0, True) == (65, 97)


def test_objects_keep_their_ids_and_a_later_object_joins_at_its_keyframe(tmp_path, checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frames = make_frames(tmp_path)
    k1 = np.zeros((H, W), np.uint8)
    k1[10:30, 7:27] = 3
    k4 = np.zeros((H, W), np.uint8)
    k4[10:30, 13:33] = 3
    k4[40:60, 60:80] = 7
    keys = KeyMasks({1: k1, 4: k4}, H, W)
    masks, ctx = run(tmp_path, frames, keys, checkpoint)
    assert len(masks) == N and (masks.height, masks.width) == (H, W)
    out = masks.read(0, N)
    assert out.dtype == np.uint8
    assert not out[0].any()                                  # before the first keyframe: empty
    assert np.array_equal(out[1], k1)                        # keyframes come back as given
    assert np.array_equal(out[4][k4 > 0], k4[k4 > 0])
    for t in (2, 3):
        assert set(np.unique(out[t])) <= {0, 3}              # object 7 is not tracked before it appears
    for t in range(5, N):
        assert set(np.unique(out[t])) <= {0, 3, 7}
    assert any("frames 0..0 come before the first keyframe" in n for n in ctx._report.notes)
    # deaotpy's configs make result/ folders in the working directory; ours must not.
    assert not any((tmp_path / d).exists() for d in ("result", "results", "img_logs"))


def test_more_objects_than_one_engine_holds_are_split_across_engines(tmp_path, checkpoint):
    frames = make_frames(tmp_path, n=4)
    key = np.zeros((H, W), np.uint8)
    for i in range(12):                                       # DeAOT holds 10 objects per engine
        key[(i // 6) * 30:(i // 6) * 30 + 20, (i % 6) * 16:(i % 6) * 16 + 12] = 20 + i
    later = key.copy()
    later[60:64, 0:10] = 99                                  # a 13th object on frame 2
    masks, _ = run(tmp_path, frames, KeyMasks({0: key, 2: later}, H, W), checkpoint)
    out = masks.read(0, 4)
    assert np.array_equal(out[0], key)
    assert set(np.unique(out[1])) <= set(range(20, 32)) | {0}
    assert np.array_equal(out[2][later > 0], later[later > 0])
    assert set(np.unique(out[3])) <= set(range(20, 32)) | {0, 99}


def test_the_model_is_loaded_once_per_process(tmp_path, checkpoint):
    frames = make_frames(tmp_path, n=2)
    key = np.zeros((H, W), np.uint8)
    key[10:30, 5:25] = 1
    manager = ModelManager(budget=10**10)
    run(tmp_path / "a", frames, KeyMasks({0: key}, H, W), checkpoint, manager=manager)
    run(tmp_path / "b", frames, KeyMasks({0: key}, H, W), checkpoint, manager=manager)
    assert sum(line.startswith("load") for line in manager.log) == 1


def test_no_objects_gives_empty_masks_without_loading_a_model(tmp_path):
    frames = make_frames(tmp_path, n=3)
    manager = ModelManager(budget=10**10)
    masks, ctx = run(tmp_path, frames, KeyMasks({}, H, W), "", manager=manager)
    assert len(masks) == 3 and not masks.read(0, 3).any()
    assert manager.log == []


def test_missing_and_wrong_checkpoints_are_bad_input(tmp_path, checkpoint, monkeypatch):
    monkeypatch.delenv(ck.CKPT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    frames = make_frames(tmp_path, n=2)
    key = np.zeros((H, W), np.uint8)
    key[10:30, 5:25] = 1
    keys = KeyMasks({0: key}, H, W)
    with pytest.raises(BadInput, match="R50_DeAOTL_PRE_YTB_DAV.pth.*inpainterz weights fetch r50_deaotl"):
        run(tmp_path, frames, keys, "")
    problems = track.track_deaot.preflight({"model": "deaott", "checkpoint": ""}, RunConfig())
    assert len(problems) == 1 and "inpainterz weights fetch deaott" in problems[0]
    sam_like = tmp_path / "sam.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(1), "prompt_encoder.x": torch.zeros(1),
                "mask_decoder.y": torch.zeros(1)}, sam_like)
    with pytest.raises(BadInput, match="not a DeAOT r50_deaotl checkpoint.*looks like a SAM"):
        run(tmp_path, frames, keys, sam_like)


def _track_graph(reg, shot, prompts, checkpoint):
    from inpainterz.engine import Graph

    g = Graph(registry=reg)
    g.add("ReadImages", id="read", path=str(shot / "%04d.png"))
    g.add("TKeyMasks", id="keys", height=H, width=W, prompts=prompts)
    g.add("TrackDeAOT", id="track", frames="read.frames", keymasks="keys.keymasks", checkpoint=str(checkpoint),
          max_long_edge=96, long_term_mem_gap=2, long_term_mem_max=3, state_every=4)
    return g


def write_shot(tmp_path, n):
    """make_frames' clip as a PNG sequence (a folder ReadImages fingerprints file by file)."""
    import cv2

    shot = tmp_path / "shot"
    shot.mkdir()
    clip = make_frames(tmp_path, n=n).read(0, n)
    for t in range(n):
        cv2.imwrite(str(shot / f"{t:04d}.png"), clip[t][:, :, ::-1])
    return shot


def test_a_keyframe_added_at_k_retracks_only_from_k_and_equals_a_cold_run(tmp_path, checkpoint, counting_registry):
    n = 14
    shot = write_shot(tmp_path, n)
    prompts = [{"frame": 1, "box": [7, 10, 27, 30], "id": 3}]
    g = _track_graph(counting_registry, shot, prompts, checkpoint)
    assert g.run(cache_dir=tmp_path / "cache", device="cpu").ok
    for k, resumed_at in ((9, 8), (6, 4)):
        prompts = prompts + [{"frame": k, "box": [60, 40, 80, 60], "id": 7}]
        g = _track_graph(counting_registry, shot, prompts, checkpoint)
        warm = g.run(cache_dir=tmp_path / "cache", device="cpu")
        assert warm.ok
        assert warm.nodes["track"].frames == {"rendered": n - k, "reused": k}
        assert f"resumed from the tracker's state saved before frame {resumed_at}" in warm.nodes["track"].notes
        cold = g.run(cache_dir=tmp_path / f"cold{k}", device="cpu")
        assert cold.nodes["track"].frames == {"rendered": n, "reused": 0}
        a, b = warm.value("track", "masks").read(0, n), cold.value("track", "masks").read(0, n)
        assert np.array_equal(a, b)
        assert set(np.unique(a[k:])) >= {7}


def test_states_every_frame_share_memory_entries_and_resume_exactly_at_the_edit(tmp_path, checkpoint,
                                                                                 counting_registry):
    from inpainterz.engine.cache import Cache

    n, gap, lt_max = 14, 2, 3
    shot = write_shot(tmp_path, n)
    prompts = [{"frame": 1, "box": [7, 10, 27, 30], "id": 3}]

    def graph(prompts):
        g = _track_graph(counting_registry, shot, prompts, checkpoint)
        g.set("track", state_every=1)
        return g

    cache = Cache(tmp_path / "cache")
    cold = graph(prompts).run(cache=cache, device="cpu")
    assert cold.ok and f"tracked {n - 1} frames (1..{n - 1})" in cold.nodes["track"].notes
    state = cache.lookup(cold.nodes["track"].key).path / "state"
    states = sorted(p.name for p in state.glob("state*.pt"))
    entries = sorted(p.name for p in state.glob("memory*.pt"))
    assert states == [f"state{t:07d}.pt" for t in range(2, n)]  # one before every frame after the first keyframe
    # Each long-term memory entry is written once, however many states hold it: the first
    # keyframe's, then one every `gap` frames, named by the frame that added it (none after the
    # last state).
    assert entries == [f"memory{t:07d}-0.pt" for t in range(1, n - 1, gap)]
    entry_size = (state / entries[0]).stat().st_size
    # A state holds the short-term memory (one entry's size) and small things, not its lt_max entries.
    assert max((state / s).stat().st_size for s in states[3:]) < 2 * entry_size

    for k in (9, 6):  # a later object joins at k; then an earlier correction re-tracks from there
        prompts = prompts + [{"frame": k, "box": [60, 40, 80, 60], "id": 7}]
        warm = graph(prompts).run(cache=cache, device="cpu")
        assert warm.nodes["track"].frames == {"rendered": n - k, "reused": k}
        assert f"resumed from the tracker's state saved before frame {k}" in warm.nodes["track"].notes
        assert f"tracked {n - k} frames ({k}..{n - 1})" in warm.nodes["track"].notes  # none before k
        fresh = graph(prompts).run(cache_dir=tmp_path / f"fresh{k}", device="cpu")
        a, b = warm.value("track", "masks").read(0, n), fresh.value("track", "masks").read(0, n)
        assert np.array_equal(a, b)
        assert set(np.unique(a[k:])) >= {3, 7}
