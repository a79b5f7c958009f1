"""The mask tools: DilateMask, SelectObjects, MergeMasks, OverlayMasks, through the engine."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from inpainterz.engine import Graph
from inpainterz.nodes.maskfiles import PALETTE
from inpainterz.nodes.masks import grow_labels


def write_labels(folder: Path, frames) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for i, lab in enumerate(frames):
        im = Image.frombytes("P", (lab.shape[1], lab.shape[0]), np.ascontiguousarray(lab, np.uint8).tobytes())
        im.putpalette(PALETTE.tobytes())
        im.save(folder / f"{i:05d}.png")
    return folder.name


def run_masks(tmp_path: Path, frames, node_type: str, **params):
    """ReadMasks -> node_type -> the node's masks output."""
    g = Graph(base_dir=tmp_path)
    src = g.add("ReadMasks", id="src", path=write_labels(tmp_path / "in", frames))
    g.add(node_type, id="tool", masks=src.masks, **params)
    res = g.run(cache_dir=tmp_path / "cache")
    assert res.ok, [n.error for n in res.failed]
    return res.value("tool", "masks").read(0, len(frames)), res


def dot(h=81, w=81, at=(40, 40), id=1):
    m = np.zeros((h, w), np.uint8)
    m[at] = id
    return m


# ---------------------------------------------------------------- DilateMask

@pytest.mark.parametrize("radius", [1, 2, 5, 13, 30])
def test_ellipse_radius_is_an_exact_disk(tmp_path, radius):
    out, _ = run_masks(tmp_path, [dot()], "DilateMask", radius=radius, shape="ellipse")
    y, x = np.mgrid[0:81, 0:81]
    disk = ((x - 40) ** 2 + (y - 40) ** 2 <= radius * radius).astype(np.uint8)
    assert np.array_equal(out[0], disk)


@pytest.mark.parametrize("radius", [1, 4, 20])
def test_square_and_cross_radius_is_exact(tmp_path, radius):
    out, _ = run_masks(tmp_path, [dot()], "DilateMask", radius=radius, shape="square")
    ys, xs = np.nonzero(out[0])
    assert len(ys) == (2 * radius + 1) ** 2 and xs.min() == 40 - radius and xs.max() == 40 + radius
    out, _ = run_masks(tmp_path / "c", [dot()], "DilateMask", radius=radius, shape="cross")
    assert out[0].sum() == 4 * radius + 1
    assert out[0][40, 40 - radius] and out[0][40 + radius, 40] and not out[0][41, 41]


def test_radius_zero_keeps_the_masks(tmp_path):
    lab = dot(id=5)
    out, _ = run_masks(tmp_path, [lab], "DilateMask", radius=0)
    assert np.array_equal(out[0], lab)


def test_objects_grow_separately_and_meet_deterministically(tmp_path):
    lab = np.zeros((30, 60), np.uint8)
    lab[10:20, 10:20] = 2
    lab[10:20, 27:37] = 1  # 7 px gap between the objects
    out, _ = run_masks(tmp_path, [lab], "DilateMask", radius=5, shape="square")
    got = out[0]
    assert (got[lab == 2] == 2).all() and (got[lab == 1] == 1).all(), "objects keep their own pixels"
    row = got[15]
    # columns 20..26 lie between them: 20-22 are nearer object 2, 24-26 nearer object 1, 23 is a tie -> lower id
    assert row[20:23].tolist() == [2, 2, 2] and row[24:27].tolist() == [1, 1, 1] and row[23] == 1
    assert got[15, 4] == 0 and got[15, 5] == 2 and got[15, 41] == 1 and got[15, 42] == 0
    # union mode: one hole, id 1
    out, _ = run_masks(tmp_path / "u", [lab], "DilateMask", radius=5, shape="square", per_object=False)
    assert set(np.unique(out[0])) == {0, 1} and out[0][15, 20:27].all()


def test_grow_matches_dilation_by_the_element():
    rng = np.random.default_rng(3)
    lab = np.zeros((50, 70), np.uint8)
    lab[rng.integers(0, 50, 12), rng.integers(0, 70, 12)] = 1
    for shape in ("ellipse", "square", "cross"):
        for r in (1, 3, 7):
            size = 2 * r + 1
            if shape == "ellipse":
                y, x = np.mgrid[-r:r + 1, -r:r + 1]
                k = (x * x + y * y <= r * r).astype(np.uint8)
            elif shape == "square":
                k = np.ones((size, size), np.uint8)
            else:
                k = cv2.getStructuringElement(cv2.MORPH_CROSS, (size, size))
            ref = cv2.dilate(lab, k, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            assert np.array_equal(grow_labels(lab, shape, r, True), ref), (shape, r)


def test_dilate_streams_a_longer_clip(tmp_path):
    frames = []
    for i in range(40):
        m = np.zeros((24, 32), np.uint8)
        m[5 + i % 10, 3 + i % 20] = 1 + i % 3
        frames.append(m)
    out, res = run_masks(tmp_path, frames, "DilateMask", radius=2)
    assert out.shape == (40, 24, 32)
    for i in (0, 17, 39):
        assert out[i].sum() == 13 * (1 + i % 3)


# ---------------------------------------------------------------- select and merge

def three_objects():
    lab = np.zeros((20, 40), np.uint8)
    lab[2:6, 2:6] = 1
    lab[2:6, 10:14] = 2
    lab[10:14, 20:24] = 3
    return lab


def test_select_objects_keeps_only_the_listed_ids(tmp_path):
    lab = three_objects()
    out, res = run_masks(tmp_path, [lab], "SelectObjects", ids=[1, 3, 9])
    assert np.array_equal(out[0], np.where(np.isin(lab, [1, 3]), lab, 0))
    assert any("9" in n for n in res.nodes["tool"].notes)


def test_select_objects_rejects_bad_ids(tmp_path):
    from inpainterz.engine import GraphError

    g = Graph(base_dir=tmp_path)
    src = g.add("ReadMasks", id="src", path=write_labels(tmp_path / "in", [three_objects()]))
    g.add("SelectObjects", id="tool", masks=src.masks, ids=[0, 300])
    with pytest.raises(GraphError, match="ids"):
        g.run(cache_dir=tmp_path / "cache")


def test_merge_masks_into_one_id_with_and_without_a_second_input(tmp_path):
    lab = three_objects()
    out, _ = run_masks(tmp_path, [lab], "MergeMasks", ids=[1, 2], into=7)
    assert np.array_equal(out[0], np.select([np.isin(lab, [1, 2]), lab == 3], [7, 3], 0))
    out, _ = run_masks(tmp_path / "all", [lab], "MergeMasks")
    assert np.array_equal(out[0], (lab > 0).astype(np.uint8))

    other = np.zeros_like(lab)
    other[15:18, 30:35] = 4
    other[2:4, 2:4] = 5  # under object 1 of the first input
    g = Graph(base_dir=tmp_path)
    a = g.add("ReadMasks", id="a", path=write_labels(tmp_path / "a", [lab]))
    b = g.add("ReadMasks", id="b", path=write_labels(tmp_path / "b", [other]))
    g.add("MergeMasks", id="tool", masks=a.masks, other=b.masks, ids=[3, 4], into=3)
    res = g.run(cache_dir=tmp_path / "cache")
    assert res.ok, [n.error for n in res.failed]
    got = res.value("tool", "masks")[0]
    assert (got[lab == 3] == 3).all() and (got[other == 4] == 3).all()
    assert (got[lab == 1] == 1).all() and (got[lab == 2] == 2).all(), "unlisted ids of 'masks' stay"


def test_merge_masks_mismatch_names_both_inputs(tmp_path):
    g = Graph(base_dir=tmp_path)
    a = g.add("ReadMasks", id="a", path=write_labels(tmp_path / "a", [three_objects()] * 3))
    b = g.add("ReadMasks", id="b", path=write_labels(tmp_path / "b", [three_objects()] * 2))
    g.add("MergeMasks", id="tool", masks=a.masks, other=b.masks)
    res = g.run(cache_dir=tmp_path / "cache")
    rep = res.nodes["tool"]
    assert rep.status == "failed" and rep.exit_code == 2
    assert "'masks' has 3" in rep.error and "'other' has 2" in rep.error


# ---------------------------------------------------------------- overlay

def test_overlay_colours_objects_and_leaves_the_rest(tmp_path):
    lab = three_objects()
    (tmp_path / "img").mkdir()
    frame = np.full((20, 40, 3), 100, np.uint8)
    cv2.imwrite(str(tmp_path / "img" / "0000.png"), frame)
    g = Graph(base_dir=tmp_path)
    f = g.add("ReadImages", id="f", path="img")
    m = g.add("ReadMasks", id="m", path=write_labels(tmp_path / "in", [lab]))
    g.add("OverlayMasks", id="view", frames=f.frames, masks=m.masks, opacity=0.5, contour=1)
    res = g.run(cache_dir=tmp_path / "cache")
    assert res.ok, [n.error for n in res.failed]
    out = res.value("view", "frames")[0]
    assert (out[lab == 0] == 100).all(), "pixels outside the masks are untouched"
    for obj in (1, 2, 3):
        colour = PALETTE[obj]
        assert (out[lab == obj][0] == colour).all(), "the outline has the object's own colour"
        centre = np.argwhere(lab == obj).mean(axis=0).astype(int) + 1
        assert np.abs(out[tuple(centre)].astype(int) - (100 + colour.astype(int)) / 2).max() <= 1


def test_overlay_mismatched_size_is_bad_input_naming_both(tmp_path):
    (tmp_path / "img").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "0000.png"), np.zeros((10, 10, 3), np.uint8))
    g = Graph(base_dir=tmp_path)
    f = g.add("ReadImages", id="f", path="img")
    m = g.add("ReadMasks", id="m", path=write_labels(tmp_path / "in", [three_objects()]))
    g.add("OverlayMasks", id="view", frames=f.frames, masks=m.masks)
    rep = g.run(cache_dir=tmp_path / "cache").nodes["view"]
    assert rep.exit_code == 2 and "10x10" in rep.error and "40x20" in rep.error
