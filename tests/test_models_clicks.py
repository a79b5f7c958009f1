"""Clicks through SAM and DeAOT with test weights on small frames: the image embeddings a run and the
editor's instant mask share, and a correction at frame N re-tracking from N only."""
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")
pytest.importorskip("aot", reason="deaotpy is not installed (pip install --no-deps deaotpy)")

from conftest import torch_threads  # noqa: E402
from inpainterz.engine import Graph  # noqa: E402
from inpainterz.engine.cache import Cache  # noqa: E402
from inpainterz.engine.models import ModelManager  # noqa: E402
from inpainterz.nodes import sam_embedding  # noqa: E402

H, W = 64, 96


@pytest.fixture(autouse=True)
def two_threads():
    with torch_threads(2):
        yield


@pytest.fixture
def encoder_calls(monkeypatch):
    """Every run of SAM's image encoder, in the run and in the editor's worker alike."""
    class Calls(list):
        started = threading.Event()  # set when an encoder run begins

    calls = Calls()
    real = sam_embedding.compute_embedding

    def counted(sam, image):
        calls.append(image.shape)
        calls.started.set()
        return real(sam, image)

    monkeypatch.setattr(sam_embedding, "compute_embedding", counted)
    return calls


def write_shot(folder, n):
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(0)
    for t in range(n):
        f = (rng.integers(0, 255, (H, W, 3), dtype=np.uint8) // 4)
        f[10:30, 5 + 2 * t:25 + 2 * t] = (250, 40, 40)
        f[40:60, 60:80] = (40, 250, 40)
        cv2.imwrite(str(folder / f"{t:04d}.png"), f[:, :, ::-1])
    return folder / "%04d.png"


def click_graph(pattern, sam_checkpoint, deaot_checkpoint, prompts, track=True):
    g = Graph()
    g.add("ReadImages", id="read", path=str(pattern))
    g.add("PointPrompt", id="clicks", frame=1, points=[[15, 20, True]], object_ids=[3], prompts=prompts)
    g.add("SegmentSAM", id="segment", frames="read.frames", points="clicks.points", checkpoint=str(sam_checkpoint))
    if track:
        g.add("TrackDeAOT", id="track", frames="read.frames", keymasks="segment.keymasks",
              checkpoint=str(deaot_checkpoint))
    return g


@pytest.mark.slow
def test_a_run_and_the_viewer_share_frame_embeddings(tmp_path, sam_checkpoint, deaot_checkpoint, encoder_calls):
    from inpainterz.editor.sam_preview import PreviewWorker, Request

    pattern = write_shot(tmp_path / "shot", 4)
    cache = Cache(tmp_path / "cache")
    later = [{"frame": 3, "points": [[70, 50, True]], "object_ids": [7]}]
    g = click_graph(pattern, sam_checkpoint, deaot_checkpoint, later, track=False)
    frames = g.run("read", cache=cache, device="cpu").value("read", "frames")
    results = []
    worker = PreviewWorker(cache, models=ModelManager(budget=10**10), device="cpu", on_result=results.append)

    def ask(frame, point, oid):
        worker.request(Request(frame, {oid: {"boxes": [], "points": [point]}}, "vit_b", sam_checkpoint, "auto",
                               lambda: np.asarray(frames[frame])))

    def instant_mask(frame, point, oid):
        ask(frame, point, oid)
        assert worker.wait_idle(300)
        return results[-1]

    # A click on frame 1 in the viewer, and a run started while the viewer's encoder is still
    # working on that frame: the run waits for the embedding instead of encoding frame 1 again,
    # and encodes only frame 3.
    ask(1, [15, 20, True, 3], 3)
    assert encoder_calls.started.wait(120)
    run = g.run(cache=cache, device="cpu")
    assert run.ok and len(encoder_calls) == 2
    assert worker.wait_idle(300)
    first = results[-1]
    assert first.encoded and worker.encoder_calls == 1
    keymasks = run.value("segment", "keymasks")
    assert sorted(keymasks) == [1, 3]
    assert np.array_equal(keymasks[1], first.labels)  # the instant mask is the run's keyframe
    # The viewer finds the embedding the run made for frame 3: a decoder pass, no encoder.
    third = instant_mask(3, [70, 50, True, 7], 7)
    assert not third.encoded and len(encoder_calls) == 2 and worker.encoder_calls == 1
    assert np.array_equal(keymasks[3], third.labels)
    worker.close()


@pytest.mark.slow
def test_a_click_at_frame_n_retracks_only_from_n_with_the_defaults(tmp_path, sam_checkpoint, deaot_checkpoint,
                                                                   encoder_calls):
    n, k = 14, 10  # TrackDeAOT saves a state every 10 frames by default
    pattern = write_shot(tmp_path / "shot", n)
    cache = Cache(tmp_path / "cache")
    cold = click_graph(pattern, sam_checkpoint, deaot_checkpoint, []).run(cache=cache, device="cpu")
    assert cold.ok and cold.nodes["track"].frames == {"rendered": n, "reused": 0}
    assert cold.value("segment", "keymasks")[1].any()

    # A correction: a click for a second object at frame k, as the viewer adds it.
    prompts = [{"frame": k, "points": [[70, 50, True]], "object_ids": [7]}]
    warm = click_graph(pattern, sam_checkpoint, deaot_checkpoint, prompts).run(cache=cache, device="cpu")
    assert warm.ok and len(encoder_calls) == 2  # frame k only
    assert warm.nodes["track"].frames == {"rendered": n - k, "reused": k}
    notes = warm.nodes["track"].notes
    assert f"resumed from the tracker's state saved before frame {k}" in notes
    assert f"tracked {n - k} frames ({k}..{n - 1})" in notes  # the tracker stepped no frame before k

    fresh = click_graph(pattern, sam_checkpoint, deaot_checkpoint, prompts).run(cache_dir=tmp_path / "fresh",
                                                                                  device="cpu")
    assert fresh.nodes["track"].frames == {"rendered": n, "reused": 0}
    a, b = warm.value("track", "masks").read(0, n), fresh.value("track", "masks").read(0, n)
    assert np.array_equal(a, b)
    assert 7 in np.unique(a[k:]) and not (a[:k] == 7).any()
