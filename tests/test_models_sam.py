"""SegmentSAM and the prompt nodes, with a ViT-B checkpoint the test makes.

The SAM encoder always works at 1024 px, so one frame costs ~15-30 s on a
CPU: the end-to-end test embeds a single frame and prompts two objects on it.
"""
from fractions import Fraction

import numpy as np
import pytest
from conftest import node_context  # noqa: E402
from inpainterz.engine import BadInput, Boxes, Points, data
from inpainterz.engine.models import ModelManager
from inpainterz.nodes import prompts, segment

H, W = 48, 64


def make_ctx(tmp_path, manager=None, type_id="SegmentSAM"):
    return node_context(tmp_path, type_id, "n", manager)


def make_frames(tmp_path, n=2):
    clip = np.full((n, H, W, 3), 30, np.uint8)
    clip[:, 10:30, 8:28] = (230, 60, 60)
    clip[:, 20:40, 36:56] = (60, 60, 230)
    writer = data.frames_writer(tmp_path / "frames", H, W, Fraction(25))
    writer.append(clip)
    return writer.close()


# ---------------------------------------------------------------- prompts

def test_box_prompt_numbers_objects_and_takes_more_frames(tmp_path):
    ctx = make_ctx(tmp_path, type_id="BoxPrompt")
    out = prompts.box_prompt.render(ctx, frame=3, boxes=[[1, 2, 10, 20], [5, 5, 9, 9]], object_ids=[],
                                    prompts=[{"frame": 7, "boxes": [[0, 0, 4, 4]], "object_ids": [9]}])["boxes"]
    assert isinstance(out, Boxes)
    assert out[3] == [[1.0, 2.0, 10.0, 20.0, 1.0, "box", 1], [5.0, 5.0, 9.0, 9.0, 1.0, "box", 2]]
    assert out[7] == [[0.0, 0.0, 4.0, 4.0, 1.0, "box", 9]]
    with pytest.raises(BadInput, match="2 object ids for 1 boxes"):
        prompts.box_prompt.render(ctx, frame=0, boxes=[[0, 0, 1, 1]], object_ids=[1, 2], prompts=[])
    param = next(p for p in prompts.box_prompt.params if p.name == "boxes")
    assert "is empty" in param.validate([[5, 5, 1, 1]])[1]


def test_point_prompt_defaults_to_one_object_and_accepts_ids(tmp_path):
    ctx = make_ctx(tmp_path, type_id="PointPrompt")
    out = prompts.point_prompt.render(ctx, frame=0, points=[[10, 12, True], [30, 30, False], [50, 40, 1, 4]],
                                      object_ids=[], prompts=[])["points"]
    assert isinstance(out, Points)
    assert out[0] == [[10.0, 12.0, True, 1], [30.0, 30.0, False, 1], [50.0, 40.0, True, 4]]
    with pytest.raises(BadInput, match="object 2 has only negative points"):
        prompts.point_prompt.render(ctx, frame=0, points=[[1, 1, False]], object_ids=[2], prompts=[])


def test_overlaps_go_to_the_higher_logit_whatever_the_prompt_order():
    rng = np.random.default_rng(1)
    logits = {oid: rng.normal(size=(6, 7)).astype(np.float32) for oid in (2, 5, 9)}
    label = np.zeros((6, 7), np.uint8)
    best = np.full((6, 7), -np.inf, np.float32)
    for oid in sorted(logits):
        segment.paint(label, best, oid, logits[oid], 0.0)
    stack = np.stack([logits[o] for o in (2, 5, 9)])
    expect = np.where(stack.max(0) > 0, np.array([2, 5, 9])[stack.argmax(0)], 0)
    assert np.array_equal(label, expect)


# ---------------------------------------------------------------- SAM end to end

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")


@pytest.mark.slow
def test_sam_segments_prompted_objects_on_their_keyframe(tmp_path, sam_checkpoint):
    torch.set_num_threads(2)
    frames = make_frames(tmp_path)
    boxes = Boxes({1: [[8, 10, 28, 30, 0.9, "red", 2]]})
    points = Points({1: [[46, 30, True, 5], [5, 5, False, 5]]})
    manager = ModelManager(budget=10**10)
    ctx = make_ctx(tmp_path, manager)
    out = segment.segment_sam.render(ctx, frames=frames, boxes=boxes, points=points, model="vit_b",
                                     checkpoint=sam_checkpoint, multimask="auto")["keymasks"]
    assert list(out) == [1]
    assert (out.height, out.width) == (H, W)
    assert out[1].dtype == np.uint8 and out[1].shape == (H, W)
    assert set(np.unique(out[1])) <= {0, 2, 5}
    assert sum(line.startswith("load") for line in manager.log) == 1
    # The same process reuses the loaded model.
    segment.load_sam(ctx, "vit_b", sam_checkpoint)
    assert sum(line.startswith("load") for line in manager.log) == 1


def test_sam_errors_name_what_to_fix(tmp_path, sam_checkpoint):
    frames = make_frames(tmp_path)
    ctx = make_ctx(tmp_path)
    with pytest.raises(BadInput, match="connect 'boxes'"):
        segment.segment_sam.render(ctx, frames=frames, boxes=None, points=None, model="vit_b",
                                   checkpoint=sam_checkpoint, multimask="auto")
    with pytest.raises(BadInput, match="frame 5 is outside the clip"):
        segment.segment_sam.render(ctx, frames=frames, boxes=Boxes({5: [[0, 0, 4, 4, 1, "x", 1]]}), points=None,
                                   model="vit_b", checkpoint=sam_checkpoint, multimask="auto")
    empty = segment.segment_sam.render(ctx, frames=frames, boxes=Boxes({}), points=None, model="vit_b",
                                       checkpoint=sam_checkpoint, multimask="auto")["keymasks"]
    assert len(empty) == 0
    with pytest.raises(BadInput, match="is not a SAM vit_l checkpoint|does not fit the SAM vit_l model"):
        segment.segment_sam.render(ctx, frames=frames, boxes=Boxes({0: [[0, 0, 4, 4, 1, "x", 1]]}), points=None,
                                   model="vit_l", checkpoint=sam_checkpoint, multimask="auto")


def test_the_decoder_gives_sam_predictor_s_logits_exactly():
    """The instant mask and SegmentSAM decode through `sam_embedding.Decoder`: SamPredictor.predict's
    values, bit for bit, for clicks, boxes and both, with one or three candidates."""
    from segment_anything import SamPredictor, sam_model_registry

    from inpainterz.nodes.sam_embedding import Decoder, Embedding

    torch.manual_seed(0)
    sam = sam_model_registry["vit_b"]().eval()
    rng = np.random.default_rng(0)
    for h, w, input_size in ((48, 64, (768, 1024)), (270, 480, (576, 1024))):
        emb = Embedding(rng.standard_normal((1, 256, 64, 64)).astype(np.float32) * 0.3, input_size, (h, w))
        predictor = SamPredictor(sam)
        predictor.features = torch.from_numpy(emb.features)
        predictor.input_size, predictor.original_size, predictor.is_image_set = input_size, (h, w), True
        decoder = Decoder(sam, emb)
        click = np.array([[w * 0.3, h * 0.4]], np.float32), np.array([1])
        clicks = np.array([[w * 0.3, h * 0.4], [w * 0.6, h * 0.2]], np.float32), np.array([1, 0])
        box = np.array([w * 0.1, h * 0.1, w * 0.5, h * 0.7], np.float32)
        for (coords, labels), b, many in ((click, None, True), (clicks, None, False), ((None, None), box, False),
                                          (click, box, True)):
            with torch.inference_mode():
                masks, scores, _ = predictor.predict(point_coords=coords, point_labels=labels, box=b,
                                                     multimask_output=many, return_logits=True)
            expected = masks[int(np.argmax(scores))]
            assert np.array_equal(decoder.object_logits(coords, labels, b, many), expected)
