"""The shipped model graphs, and the model nodes run by the engine itself."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inpainterz.engine import Graph, GraphError
from inpainterz.engine import checkpoints as ck
from inpainterz.engine.registry import default_registry

GRAPHS = Path(__file__).resolve().parents[1] / "graphs"
MODEL_GRAPHS = ("remove_object.json", "remove_object_points.json", "mattes_from_text.json")


@pytest.mark.parametrize("name", MODEL_GRAPHS)
def test_shipped_graph_loads_and_saves_back_the_same_bytes(name, tmp_path):
    path = GRAPHS / name
    text = path.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    reg = default_registry()
    graph = Graph.load(path, registry=reg)
    doc = json.loads(text)
    assert set(doc["ui"]) == set(doc["nodes"])
    for spec in doc["nodes"].values():
        assert spec["type"] in reg, f"{spec['type']} is not a registered node type"
    # What is left is the missing input clip (the graph's paths are relative to it) and,
    # on a machine without weights, the checkpoints to fetch.
    problems = graph.validate(check_files=True)
    assert any("input.mp4" in str(p) for p in problems)
    assert all("input.mp4" in str(p) or "inpainterz weights fetch" in str(p) for p in problems)
    assert graph.save(tmp_path / name).read_text() == text


def test_shipped_graphs_chain_the_model_nodes():
    doc = json.loads((GRAPHS / "remove_object.json").read_text())
    types = {spec["type"] for spec in doc["nodes"].values()}
    assert types == {"ReadVideo", "DetectText", "SegmentSAM", "TrackDeAOT", "DilateMask", "InpaintE2FGVI", "WriteVideo"}
    doc = json.loads((GRAPHS / "remove_object_points.json").read_text())
    assert {"BoxPrompt", "PointPrompt"} <= {spec["type"] for spec in doc["nodes"].values()}
    doc = json.loads((GRAPHS / "mattes_from_text.json").read_text())
    assert doc["nodes"]["mattes"]["params"]["mode"] == "mattes"


H, W, N = 48, 64, 3


def write_shot(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for t in range(N):
        img = np.full((H, W, 3), 40, np.uint8)
        img[10:30, 8 + 2 * t:28 + 2 * t] = (60, 60, 230)
        cv2.imwrite(str(folder / f"shot.{t:04d}.png"), img)
    return folder / "shot.%04d.png"


def prompt_graph(shot: Path, out: Path) -> Graph:
    g = Graph(registry=default_registry())
    read = g.add("ReadImages", "read", path=str(shot))
    boxes = g.add("BoxPrompt", "boxes", frame=0, boxes=[[8, 10, 28, 30]], object_ids=[4])
    seg = g.add("SegmentSAM", "segment", frames=read.frames, boxes=boxes.boxes)
    trk = g.add("TrackDeAOT", "track", frames=read.frames, keymasks=seg.keymasks, max_long_edge=64)
    g.add("WriteMasks", "mattes", masks=trk.masks, path=str(out / "matte_{id:02d}.%04d.png"), mode="mattes")
    return g


@pytest.fixture
def no_checkpoints(monkeypatch, tmp_path, isolated_checkpoints):
    monkeypatch.setenv(ck.CKPT_ENV, str(tmp_path / "empty"))


def test_missing_checkpoints_stop_the_run_before_anything_runs(tmp_path, no_checkpoints):
    g = prompt_graph(write_shot(tmp_path / "shot"), tmp_path / "out")
    with pytest.raises(GraphError) as info:
        g.run(cache_dir=tmp_path / "cache", device="cpu")
    lines = info.value.lines()
    assert any("segment" in line and "inpainterz weights fetch sam_vit_b" in line for line in lines)
    assert any("track" in line and "inpainterz weights fetch r50_deaotl" in line for line in lines)
    assert not (tmp_path / "out").exists()


torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")
pytest.importorskip("aot", reason="deaotpy is not installed")


@pytest.mark.slow
def test_prompt_to_mattes_through_the_engine(tmp_path, monkeypatch):
    """BoxPrompt -> SegmentSAM -> TrackDeAOT -> WriteMasks, run by the engine (~30 s: one SAM embedding)."""
    from segment_anything import sam_model_registry

    from inpainterz.nodes.track import build_deaot

    ckpt_dir = tmp_path / "ckpt"
    ckpt_dir.mkdir()
    torch.manual_seed(0)
    torch.save(sam_model_registry["vit_b"]().state_dict(), ckpt_dir / "sam_vit_b_01ec64.pth")
    torch.save({"state_dict": build_deaot("r50_deaotl").state_dict()}, ckpt_dir / "R50_DeAOTL_PRE_YTB_DAV.pth")
    monkeypatch.setenv(ck.CKPT_ENV, str(ckpt_dir))
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(2)
    out = tmp_path / "out"
    g = prompt_graph(write_shot(tmp_path / "shot"), out)
    result = g.run(cache_dir=tmp_path / "cache", device="cpu")
    assert result.ok, [r.to_json() for r in result.failed]
    keymasks = result.value("segment", "keymasks")
    assert list(keymasks) == [0] and set(np.unique(keymasks[0])) <= {0, 4}
    masks = result.value("track", "masks")
    assert len(masks) == N and set(np.unique(masks.read(0, N))) <= {0, 4}
    if keymasks[0].any():
        assert sorted(p.name for p in out.iterdir()) == [f"matte_04.{t:04d}.png" for t in range(N)]
    # A second run is all cached: the checkpoints found in the search folders are part of the keys.
    again = g.run(cache_dir=tmp_path / "cache", device="cpu")
    assert not again.ran() & {"read", "boxes", "segment", "track"}
    (ckpt_dir / "R50_DeAOTL_PRE_YTB_DAV.pth").touch()
    third = g.run(cache_dir=tmp_path / "cache", device="cpu")
    assert "track" in third.ran() and "segment" not in third.ran()
