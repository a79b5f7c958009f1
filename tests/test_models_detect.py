"""DetectText with a GroundingDINO checkpoint and a text encoder folder the test makes.

The text encoder is a one-layer BERT (GroundingDINO needs its 768-wide
output, not its depth) with a tiny vocabulary, so the test writes a few MB
instead of bert-base-uncased's 440 MB. A detection at the smallest image
size costs ~8 s on a CPU.
"""
from fractions import Fraction

import numpy as np
import pytest

from conftest import node_context
from inpainterz.engine import BadInput, data
from inpainterz.engine import checkpoints as ck
from inpainterz.engine.config import RunConfig
from inpainterz.nodes import detect

H, W = 60, 80


def make_ctx(tmp_path, manager=None):
    return node_context(tmp_path, "DetectText", "detect", manager)


def make_frames(tmp_path, n=3):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    writer = data.frames_writer(tmp_path / "frames", H, W, Fraction(25))
    writer.append(np.stack([frame] * n))  # identical frames: identical detections
    return writer.close()


# ---------------------------------------------------------------- pure parts

def test_parse_frames_forms():
    assert detect.parse_frames("0") == [0]
    assert detect.parse_frames("10, 0,20") == [0, 10, 20]
    assert detect.parse_frames("every:10", 25) == [0, 10, 20]
    assert detect.parse_frames("every:10+5", 25) == [5, 15]
    assert detect.parse_frames("all", 3) == [0, 1, 2]
    with pytest.raises(ValueError):
        detect.parse_frames("first")
    param = next(p for p in detect.detect_text.params if p.name == "detect_on")
    assert param.validate("every:x")[1]


def test_ids_follow_objects_across_frames_by_phrase_and_overlap():
    ids = detect.IdAssigner(match_iou=0.3)
    a = ids.assign([(50, 0, 60, 10, 0.9, "dog"), (0, 0, 10, 10, 0.8, "person")])
    assert [(d[5], i) for d, i in a] == [("person", 1), ("dog", 2)]  # new objects: left to right
    b = ids.assign([(52, 1, 62, 11, 0.7, "dog"), (30, 30, 40, 40, 0.9, "person"), (1, 0, 11, 10, 0.9, "cat")])
    got = {d[5] + str(d[0]): i for d, i in b}
    assert got["dog52"] == 2               # moved a little: same object
    assert got["cat1"] == 3                # overlaps the person but another phrase: a new object
    assert got["person30"] == 4            # too far from the person's last box: a new object


def test_suppress_keeps_the_best_of_overlapping_boxes_of_one_phrase():
    found = [(0, 0, 10, 10, 0.5, "dog"), (1, 1, 10, 10, 0.9, "dog"), (0, 0, 10, 10, 0.4, "cat")]
    kept = detect.suppress(found, 0.7)
    assert [(d[4], d[5]) for d in kept] == [(0.9, "dog"), (0.4, "cat")]
    assert len(detect.suppress(found, 1.0)) == 3


def test_resized_size_matches_the_detector_resize():
    assert detect.resized_size(480, 854, 800, 1333) == (749, 1332)
    assert detect.resized_size(600, 800, 800, 1333) == (800, 1066)
    assert detect.caption_of("Person . Dog") == "person . dog."


# ---------------------------------------------------------------- end to end

torch = pytest.importorskip("torch")
pytest.importorskip("groundingdino", reason="groundingdino-py is not installed")


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    """A checkpoint folder with groundingdino_swint_ogc.pth ({"model": ...}) and bert-base-uncased/."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("ckpt")
    bert = root / "bert-base-uncased"
    bert.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "person", "dog", "red", "car"]
    (bert / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(bert / "vocab.txt"), do_lower_case=True).save_pretrained(bert)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), num_hidden_layers=1, intermediate_size=64)).save_pretrained(bert)
    net = detect.build_groundingdino("swint_ogc", bert)
    torch.save({"model": net.state_dict()}, root / "groundingdino_swint_ogc.pth")
    return root


@pytest.fixture
def search(monkeypatch, ckpt_dir, tmp_path):
    monkeypatch.setenv(ck.CKPT_ENV, str(ckpt_dir))
    monkeypatch.chdir(tmp_path)
    return ckpt_dir


def run(tmp_path, frames, manager=None, **params):
    args = dict(prompt="person . dog .", box_threshold=0.0, text_threshold=0.25, detect_on="0,2",
                model="swint_ogc", checkpoint="", image_size=256, nms_iou=0.7, match_iou=0.3, max_objects=4)
    args.update(params)
    ctx = make_ctx(tmp_path, manager)
    return detect.detect_text.render(ctx, frames=frames, **args)["boxes"], ctx


@pytest.mark.slow
def test_detect_text_end_to_end_with_stable_ids(tmp_path, search):
    torch.set_num_threads(2)
    frames = make_frames(tmp_path)
    boxes, ctx = run(tmp_path, frames)
    assert sorted(boxes) == [0, 2]
    for f, recs in boxes.items():
        assert 1 <= len(recs) <= 4
        for x0, y0, x1, y1, score, phrase, oid in recs:
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
            assert 0.0 <= score <= 1.0 and isinstance(phrase, str) and "[CLS]" not in phrase
            assert 1 <= oid <= 255
    # The same picture on frames 0 and 2: every box keeps its object id.
    assert [r[6] for r in boxes[0]] == [r[6] for r in boxes[2]]
    assert [r[:4] for r in boxes[0]] == [r[:4] for r in boxes[2]]
    assert len({r[6] for r in boxes[0]}) == len(boxes[0])


def test_detect_text_errors_name_the_param_and_the_fetch_command(tmp_path, search, monkeypatch):
    frames = make_frames(tmp_path)
    with pytest.raises(BadInput, match="param 'detect_on': frame 9 is outside the clip"):
        run(tmp_path, frames, detect_on="9")
    assert detect.detect_text.preflight({"model": "swint_ogc", "checkpoint": ""}, RunConfig()) == []
    problems = detect.detect_text.preflight({"model": "swinb", "checkpoint": ""}, RunConfig())
    assert len(problems) == 1 and "inpainterz weights fetch groundingdino_swinb" in problems[0]
    monkeypatch.setenv(ck.CKPT_ENV, str(tmp_path / "empty"))
    problems = detect.detect_text.preflight({"model": "swint_ogc", "checkpoint": ""}, RunConfig())
    assert any("inpainterz weights fetch bert-base-uncased" in p for p in problems)
    fingerprint = detect.detect_text.fingerprint({"model": "swinb", "checkpoint": ""}, RunConfig())
    assert fingerprint[0] == ["groundingdino_swinb", None]


def test_a_hugging_face_folder_runs_on_transformers_port(tmp_path, monkeypatch):
    """The fallback backend: a local Grounding DINO folder in transformers' format (a tiny one here)."""
    from transformers import (
        BertConfig,
        BertTokenizerFast,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    folder = tmp_path / "grounding-dino"
    folder.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "person", "dog"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 256, "longest_edge": 400}),
        tokenizer=BertTokenizerFast(vocab_file=str(folder / "vocab.txt")))
    cfg = GroundingDinoConfig(
        backbone_config=SwinConfig(embed_dim=24, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                                   out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64),
        d_model=64, encoder_layers=1, decoder_layers=1, num_queries=20, encoder_ffn_dim=64, decoder_ffn_dim=64,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_n_points=1, decoder_n_points=1)
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(cfg).save_pretrained(folder)
    processor.save_pretrained(folder)
    monkeypatch.setenv(ck.CKPT_ENV, str(tmp_path / "empty"))  # needs no checkpoint and no bert folder
    assert detect.detect_text.preflight({"model": "swint_ogc", "checkpoint": folder}, RunConfig()) == []
    frames = make_frames(tmp_path, n=2)
    boxes, _ = run(tmp_path, frames, checkpoint=folder, detect_on="all")
    assert sorted(boxes) == [0, 1]
    assert [r[6] for r in boxes[0]] == [r[6] for r in boxes[1]]
    for rec in boxes[0]:
        assert "[SEP]" not in rec[5] and 0 <= rec[0] < rec[2] <= W
