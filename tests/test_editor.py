"""The Ryven editor: opening, editing, saving, running and viewing graphs, headless."""
import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["QT_API"] = "pyside6"

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_command

from inpainterz.editor import qt

_missing = qt.missing_requirement()
if _missing:
    pytest.skip(f"the editor cannot be tested here: {_missing}", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "graphs").glob("*.json"))

PLUGIN = textwrap.dedent('''
    import time
    from fractions import Fraction
    import numpy as np
    from inpainterz.engine import node, Input, Output, Param

    @node("EdGen", category="edtest", doc="Flat grey frames.", outputs=[Output("frames", "Frames")],
          params=[Param("n", "int", 4, min=1, max=1000), Param("value", "int", 10, min=0, max=255),
                  Param("slow", "float", 0.0, min=0.0, max=1.0, doc="seconds to wait per frame")])
    def ed_gen(ctx, n, value, slow):
        w = ctx.new_frames(12, 16, Fraction(25))
        for i in range(n):
            if slow:
                time.sleep(slow)
            w.append(np.full((12, 16, 3), value, np.uint8))
            ctx.progress((i + 1) / n)
        return w.close()

    @node("EdAdd", category="edtest", doc="Add a constant.", inputs=[Input("frames", "Frames")],
          outputs=[Output("frames", "Frames")],
          params=[Param("k", "int", 1), Param("gain", "float", 1.0), Param("label", "str", "")])
    def ed_add(ctx, frames, k, gain, label):
        w = ctx.new_frames(frames.height, frames.width, frames.fps)
        for _, c in frames.chunks():
            w.append(np.clip(c.astype(float) * gain + k, 0, 255).astype(np.uint8))
        return {"frames": w.close()}

    @node("EdMask", category="edtest", doc="Object 3 on the right half.", inputs=[Input("frames", "Frames")],
          outputs=[Output("masks", "Masks")], params=[Param("mode", "choice", "right", choices=["right", "left"])])
    def ed_mask(ctx, frames, mode):
        w = ctx.new_masks(frames.height, frames.width)
        for _, c in frames.chunks():
            m = np.zeros(c.shape[:3], np.uint8)
            half = c.shape[2] // 2
            if mode == "right":
                m[:, :, half:] = 3
            else:
                m[:, :, :half] = 3
            w.append(m)
        return w.close()
''')

CHAIN = {
    "format": "inpainterz-graph", "version": 1,
    "nodes": {
        "src": {"type": "EdGen", "params": {"n": 3}},
        "up": {"type": "EdAdd", "inputs": {"frames": "src.frames"}, "params": {"k": 3, "gain": 1}},
        "late": {"type": "EdAdd", "inputs": {"frames": "up.frames"}},
        "mask": {"type": "EdMask", "inputs": {"frames": "late.frames"}},
    },
}


@pytest.fixture(scope="module")
def app():
    return qt.application()


@pytest.fixture
def plugin_env(tmp_path, monkeypatch):
    """A plugin folder and a private cache, with the registry reloaded to see them."""
    from inpainterz.engine import registry

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "edtest_nodes.py").write_text(PLUGIN)
    monkeypatch.setenv("INPAINTERZ_PLUGIN_PATH", str(plugins))
    monkeypatch.setenv("INPAINTERZ_CACHE", str(tmp_path / "cache"))
    reg = registry.default_registry(reload=True)
    yield reg
    registry._default = None  # the next user rebuilds it without the test plugin


def make_window(app, registry, graph_path=None):
    from inpainterz.editor.app import settle
    from inpainterz.editor.window import EditorWindow

    win = EditorWindow(registry, ask_before_closing=False)
    if graph_path is not None:
        win.open_graph(graph_path)
    win.show()
    settle(app)
    win._settle_layout()
    settle(app)
    return win


def write_graph(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, indent=2))
    return path


def connection_count(doc) -> int:
    return sum(len(inps) for inps in doc.flow.graph_adj.values())


def states(win, ids):
    return {n: win.state(n) for n in ids}


@pytest.mark.parametrize("path", SHIPPED or [None], ids=[p.name for p in SHIPPED] or ["none"])
def test_shipped_graph_opens_with_its_nodes_connections_and_params(app, path):
    if path is None:
        pytest.skip("no graphs shipped in graphs/ yet")
    from inpainterz.engine.registry import default_registry

    original = json.loads(path.read_text())
    win = make_window(app, default_registry(), path)
    doc = win.doc
    assert sorted(n.node_id for n in doc.nodes()) == sorted(original["nodes"])
    edges = [(nid, port) for nid, nd in original["nodes"].items() for port in nd.get("inputs", {})]
    dangling = sum(len(n.dangling_inputs) for n in doc.nodes())
    assert connection_count(doc) + dangling == len(edges)
    for node in doc.nodes():
        assert node.type_id == original["nodes"][node.node_id]["type"]
        assert node.params == original["nodes"][node.node_id].get("params", {})
    saved = doc.to_graph().to_json()
    assert saved["nodes"] == original["nodes"]
    win.close()


def test_param_edit_through_its_widget_saves_only_that_param(app, plugin_env, tmp_path):
    path = write_graph(tmp_path / "chain.json", CHAIN)
    win = make_window(app, plugin_env, path)
    out = tmp_path / "saved.json"
    assert win.doc.save(out) == out
    before = json.loads(out.read_text())
    assert not win.doc.is_modified()

    body = win.doc.item(win.doc.node("late")).main_widget
    body.editors["k"].box.setValue(7)  # what typing 7 into the spin box does
    assert win.doc.is_modified()
    win.doc.save(out)
    after = json.loads(out.read_text())

    assert after["nodes"]["late"]["params"] == {"k": 7}
    after["nodes"]["late"].pop("params")
    assert after == before
    # Untouched params keep their exact JSON: the float param written as 1 stays 1.
    assert re.search(r'"gain": 1[,\n]', out.read_text())
    win.close()


def test_edit_back_to_default_drops_the_param_and_undo_restores(app, plugin_env, tmp_path):
    win = make_window(app, plugin_env, write_graph(tmp_path / "chain.json", CHAIN))
    node = win.doc.node("late")
    body = win.doc.item(node).main_widget
    body.editors["gain"].box.setValue(2.5)
    assert node.params == {"gain": 2.5}
    body.editors["gain"].box.setValue(1.0)
    assert node.params == {}  # back at the default, and the file never had it
    win.doc.view._undo_stack.undo()
    assert node.params == {"gain": 2.5}
    assert body.editors["gain"].box.value() == 2.5
    body.editors["label"].line.setText("hello")
    body.editors["label"].line.editingFinished.emit()
    assert node.params["label"] == "hello"
    win.close()


def test_graph_without_positions_is_laid_out_left_to_right(app, plugin_env, tmp_path):
    win = make_window(app, plugin_env, write_graph(tmp_path / "chain.json", CHAIN))
    x = {n.node_id: win.doc.item(n).pos().x() for n in win.doc.nodes()}
    assert x["src"] < x["up"] < x["late"] < x["mask"]
    items = [win.doc.item(n).sceneBoundingRect() for n in win.doc.nodes()]
    assert not any(a.intersects(b) for i, a in enumerate(items) for b in items[i + 1:])
    assert not win.doc.is_modified()  # placing a file's nodes is not an edit
    ui = win.doc.to_graph().to_json()["ui"]
    assert set(ui) == set(CHAIN["nodes"])
    win.close()


def test_saved_graph_round_trips_byte_for_byte_and_runs_headless(app, plugin_env, tmp_path):
    from inpainterz.engine.graph import Graph
    from inpainterz.engine.executor import run_graph

    win = make_window(app, plugin_env, write_graph(tmp_path / "chain.json", CHAIN))
    first = win.doc.save(tmp_path / "one.json").read_bytes()
    win.close()
    win = make_window(app, plugin_env, tmp_path / "one.json")
    assert win.doc.save(tmp_path / "two.json").read_bytes() == first
    win.close()
    result = run_graph(Graph.load(tmp_path / "two.json"))
    assert result.ok


def test_run_from_the_editor_then_only_downstream_reruns(app, plugin_env, tmp_path):
    ids = ["src", "up", "late", "mask"]
    win = make_window(app, plugin_env, write_graph(tmp_path / "chain.json", CHAIN))
    assert win.run()
    assert win.wait_for_run(60)
    assert states(win, ids) == dict.fromkeys(ids, "done")
    body = win.doc.item(win.doc.node("up")).main_widget
    assert "done in" in body.state_label.text()

    assert win.run() and win.wait_for_run(60)
    assert states(win, ids) == dict.fromkeys(ids, "cached")

    win.doc.item(win.doc.node("late")).main_widget.editors["k"].box.setValue(9)
    assert states(win, ids) == {"src": "cached", "up": "cached", "late": "changed", "mask": "changed"}
    assert win.run() and win.wait_for_run(60)
    assert states(win, ids) == {"src": "cached", "up": "cached", "late": "done", "mask": "done"}
    assert win.result.ran() == {"late", "mask"}
    win.close()


def test_viewer_shows_frames_and_masks_over_their_frames(app, plugin_env, tmp_path):
    win = make_window(app, plugin_env, write_graph(tmp_path / "chain.json", CHAIN))
    win._view_node(win.doc.node("late"))
    assert win.viewer.last_picture is None  # nothing computed yet
    assert win.run() and win.wait_for_run(60)

    win._view_node(win.doc.node("late"))
    pic = win.viewer.last_picture
    assert pic is not None and pic.count == 3
    assert pic.image.shape == (12, 16, 3) and int(pic.image[0, 0, 0]) == 10 + 3 + 1

    win._view_node(win.doc.node("mask"))
    pic = win.viewer.last_picture
    assert pic.count == 3
    left, right = pic.image[6, 2], pic.image[6, 13]
    assert tuple(left) == (14, 14, 14)  # background: the upstream frame itself
    assert tuple(right) != (14, 14, 14)  # object 3, tinted in its colour
    win.viewer.on_frames.setChecked(False)
    assert tuple(win.viewer.last_picture.image[6, 2]) == (0, 0, 0)

    # A new window (a new editor session) finds the same outputs in the cache.
    win.close()
    win = make_window(app, plugin_env, tmp_path / "chain.json")
    win._view_node(win.doc.node("mask"))
    assert win.viewer.last_picture is not None
    win.close()


def test_validation_problems_are_listed_one_line_each(app, plugin_env, tmp_path):
    broken = json.loads(json.dumps(CHAIN))
    del broken["nodes"]["late"]["inputs"]
    broken["nodes"]["src"]["params"]["n"] = 0
    win = make_window(app, plugin_env, write_graph(tmp_path / "broken.json", broken))
    win.log_lines.clear()
    assert not win.run()
    lines = win.log_lines
    assert any("node 'late'" in line and "input 'frames'" in line for line in lines)
    assert any("node 'src'" in line and "param 'n'" in line for line in lines)
    assert all("\n" not in line for line in lines)
    win.close()


def test_checkpoint_folder_setting_reaches_validation(app, tmp_path, isolated_checkpoints):
    from inpainterz.engine.registry import default_registry

    doc = {"format": "inpainterz-graph", "version": 1, "nodes": {
        "read": {"type": "ReadImages", "params": {"path": "shot/f.%04d.png"}},
        "boxes": {"type": "BoxPrompt", "params": {"boxes": [[1, 1, 4, 4]]}},
        "segment": {"type": "SegmentSAM", "inputs": {"frames": "read.frames", "boxes": "boxes.boxes"}}}}
    (tmp_path / "shot").mkdir()
    win = make_window(app, default_registry(), write_graph(tmp_path / "sam.json", doc))
    win.log_lines.clear()
    assert not win.validate()
    assert any("inpainterz weights fetch sam_vit_b" in line for line in win.log_lines)
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "sam_vit_b_01ec64.pth").write_bytes(b"x")
    win.set_ckpt_dir(folder)
    assert win.config.ckpt_dirs == (folder.resolve(),)
    win.log_lines.clear()
    win.validate()
    assert not any("sam_vit_b" in line for line in win.log_lines)  # found in the folder set in the window
    win.close()


def test_cancel_stops_the_run(app, plugin_env, tmp_path):
    slow = json.loads(json.dumps(CHAIN))
    slow["nodes"]["src"]["params"].update(n=400, slow=0.01)
    win = make_window(app, plugin_env, write_graph(tmp_path / "slow.json", slow))
    assert win.run()
    import time

    end = time.monotonic() + 20
    while win.state("src") != "running" and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    assert win.state("src") == "running"
    win.cancel()
    assert win.wait_for_run(30)
    assert win.result.cancelled
    assert win.state("src") == "skipped" and win.state("late") == "skipped"
    win.close()


def test_plugin_node_is_listed_under_its_category(app, plugin_env):
    win = make_window(app, plugin_env)
    listed = {cls.identifier for cls in win.node_list.nodes}
    assert {"edtest.EdGen", "edtest.EdAdd", "edtest.EdMask"} <= listed
    for nt in plugin_env:
        assert f"{nt.category}.{nt.id}" in listed
    cls = win.node_classes["EdGen"]
    assert [type(w).__name__ for w in
            win.doc.item(win.doc.add_node("EdGen")).main_widget.editors.values()] == [
        "IntEditor", "IntEditor", "FloatEditor"]
    assert cls.__doc__ == "Flat grey frames."
    win.close()


def test_new_nodes_get_readable_ids_and_typed_connections(app, plugin_env):
    win = make_window(app, plugin_env)
    doc = win.doc
    gen = doc.add_node("EdGen")
    add1, add2 = doc.add_node("EdAdd"), doc.add_node("EdAdd")
    mask = doc.add_node("EdMask")
    assert [gen.node_id, add1.node_id, add2.node_id, mask.node_id] == ["ed_gen1", "ed_add1", "ed_add2", "ed_mask1"]
    assert doc.flow.connect_nodes(gen.outputs[0], add1.inputs[0]) is not None
    assert doc.flow.connect_nodes(mask.outputs[0], add2.inputs[0]) is None  # Masks into Frames
    assert doc.flow.connect_nodes(add1.outputs[0], mask.inputs[0]) is not None
    assert doc.flow.connect_nodes(mask.outputs[0], gen.outputs[0]) is None
    graph = doc.to_graph()
    assert graph.nodes["ed_add1"].inputs == {"frames": "ed_gen1.frames"}
    assert graph.nodes["ed_mask1"].inputs == {"frames": "ed_add1.frames"}
    assert doc.rename(add1, "grade") is None
    assert doc.to_graph().nodes["ed_mask1"].inputs == {"frames": "grade.frames"}
    assert doc.rename(add2, "grade") is not None  # taken
    win.close()


def test_copy_and_paste_carry_graph_json(app, plugin_env, tmp_path):
    win = make_window(app, plugin_env, write_graph(tmp_path / "chain.json", CHAIN))
    doc = win.doc
    doc.view.clear_selection()
    for nid in ("up", "late"):
        doc.item(doc.node(nid)).setSelected(True)
    text = doc.selection_json()
    part = json.loads(text)
    assert part["format"] == "inpainterz-graph"
    assert part["nodes"]["late"]["inputs"] == {"frames": "up.frames"}
    assert "inputs" not in part["nodes"]["up"]  # its source was not copied
    pasted = doc.paste(text)
    assert sorted(n.node_id for n in pasted) == ["ed_add1", "ed_add2"]
    graph = doc.to_graph()
    pasted_late = next(n for n in pasted if n.params == {})
    assert graph.nodes[pasted_late.node_id].inputs["frames"].endswith(".frames")
    win.close()


def test_unknown_node_types_survive_a_round_trip(app, plugin_env, tmp_path):
    doc = json.loads(json.dumps(CHAIN))
    doc["nodes"]["odd"] = {"type": "NotInstalled", "inputs": {"frames": "late.frames", "extra": "gone.out"},
                           "params": {"strength": 0.5, "names": ["a"]}, "note": "kept"}
    doc["nodes"]["mask"]["inputs"]["frames"] = "odd.result"
    win = make_window(app, plugin_env, write_graph(tmp_path / "odd.json", doc))
    saved = win.doc.to_graph().to_json()
    assert saved["nodes"] == doc["nodes"]
    assert not win.run()  # the unknown type is reported, nothing runs
    win.close()


def test_screenshot_command_writes_a_png(plugin_env, tmp_path):
    graph = write_graph(tmp_path / "chain.json", CHAIN)
    png = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(cli_command("edit", graph, "--screenshot", png),
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_engine_and_cli_import_no_qt():
    code = ("import sys, inpainterz.engine, inpainterz.app.cli, inpainterz.engine.executor\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'PySide2', 'qtpy', 'ryven', 'ryvencore', 'ryvencore_qt', 'shiboken6'))\n"
            "print(','.join(bad))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_overlay_colours_are_stable_and_distinct():
    from inpainterz.editor import overlay

    colours = {overlay.colour_of(i) for i in range(1, 20)}
    assert len(colours) == 19
    labels = np.zeros((4, 4), np.uint8)
    labels[1:3, 1:3] = 2
    img = overlay.overlay_labels(np.full((4, 4, 3), 100, np.uint8), labels, opacity=0.5)
    assert tuple(img[0, 0]) == (100, 100, 100)
    assert tuple(img[1, 1]) == overlay.colour_of(2)  # the outline is drawn in full colour


def test_pictures_of_keymasks_boxes_and_points(tmp_path):
    from fractions import Fraction

    from inpainterz.engine import data
    from inpainterz.editor import overlay
    from inpainterz.editor.results import picture

    w = data.frames_writer(tmp_path / "frames", 20, 30, Fraction(25))
    for i in range(5):
        w.append(np.full((20, 30, 3), 50 + i, np.uint8))
    frames = w.close()

    km = np.zeros((20, 30), np.uint8)
    km[5:15, 10:20] = 4
    keymasks = data.KeyMasks({2: km})
    pic = picture(keymasks, "KeyMasks", 2, frames)
    assert pic.count == 5 and pic.keyframes == [2]
    assert tuple(pic.image[0, 0]) == (52, 52, 52) and tuple(pic.image[10, 15]) != (52, 52, 52)
    off_key = picture(keymasks, "KeyMasks", 3, frames)
    assert "no keymask" in off_key.caption and tuple(off_key.image[10, 15]) == (53, 53, 53)
    alone = picture(keymasks, "KeyMasks", 2, None)
    assert tuple(alone.image[10, 15]) == overlay.colour_of(4)

    boxes = data.Boxes({1: [[2, 2, 12, 12, 0.9, "person", 1]]})
    pic = picture(boxes, "Boxes", 1, frames)
    assert pic.count == 5 and (pic.image != frames[1]).any()
    assert "1 boxes" in pic.caption
    points = data.Points({0: [[5, 5, True, 2], [20, 10, False, 2]]})
    pic = picture(points, "Points", 0, None)  # no frames: drawn on a blank canvas
    assert pic.image.shape[2] == 3 and tuple(pic.image[5, 5]) == overlay.colour_of(2)


def test_nodes_placed_from_the_list_get_ids_and_undo(app, plugin_env, tmp_path):
    doc_json = json.loads(json.dumps(CHAIN))
    doc_json["nodes"]["odd"] = {"type": "NotInstalled", "params": {"x": 1}}
    win = make_window(app, plugin_env, write_graph(tmp_path / "chain.json", doc_json))
    doc = win.doc
    listed = {cls.identifier for cls in win.session_gui.core_session.nodes}
    assert not any(i.startswith("unknown.") for i in listed)  # stand-ins are never offered
    doc.view.create_node__cmd(win.node_classes["EdAdd"])  # what dropping it from the list does
    added = [n for n in doc.nodes() if n.node_id == "ed_add1"]
    assert len(added) == 1 and added[0].params == {}
    doc.view._undo_stack.undo()
    assert doc.node("ed_add1") is None
    doc.view._undo_stack.redo()
    assert doc.node("ed_add1") is not None
    win.close()
