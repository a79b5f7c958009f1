"""Prompting on the viewer: real mouse and key events on the editor, offscreen, and the instant SAM mask.

Set INPAINTERZ_SHOT_DIR to keep the screenshot the slow test writes, to look at it.
"""
import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["QT_API"] = "pyside6"

import json
import subprocess
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_command

from inpainterz.editor import prompt_tools as pt
from inpainterz.editor import qt

_missing = qt.missing_requirement()
if _missing:
    pytest.skip(f"the editor cannot be tested here: {_missing}", allow_module_level=True)

H, W = 48, 64

PLUGIN = textwrap.dedent('''
    import time
    from fractions import Fraction
    import numpy as np
    from inpainterz.engine import node, Input, Output, Param

    @node("PrGen", category="prtest", doc="A red and a blue square on grey.", outputs=[Output("frames", "Frames")],
          params=[Param("n", "int", 6, min=1, max=1000)])
    def pr_gen(ctx, n):
        w = ctx.new_frames(48, 64, Fraction(25))
        for i in range(n):
            f = np.full((48, 64, 3), 30, np.uint8)
            f[10:30, 8 + i:28 + i] = (230, 60, 60)
            f[20:40, 36:56] = (60, 60, 230)
            w.append(f[None])
        return w.close()

    @node("PrDetect", category="prtest", doc="Finds the red square on frame 3 only.",
          inputs=[Input("frames", "Frames")], outputs=[Output("boxes", "Boxes")])
    def pr_detect(ctx, frames):
        from inpainterz.engine import Boxes
        return Boxes({3: [[11, 10, 31, 30, 0.9, "red", 1]]})

    @node("PrTrack", category="prtest", doc="Object 2 on the left half, one frame at a time, slowly.",
          inputs=[Input("frames", "Frames")], outputs=[Output("masks", "Masks")],
          params=[Param("slow", "float", 0.0, min=0.0, max=5.0)])
    def pr_track(ctx, frames, slow):
        w = ctx.new_masks(frames.height, frames.width)
        for t in range(len(frames)):
            if slow:
                time.sleep(slow)
            m = np.zeros((frames.height, frames.width), np.uint8)
            m[:, : frames.width // 2] = 2
            w.append(m[None])
            ctx.frame_done(t, m)
            ctx.progress((t + 1) / len(frames))
        return w.close()
''')


def chain(with_points: bool = True, checkpoint: str = "") -> dict:
    nodes = {
        "src": {"type": "PrGen"},
        "segment": {"type": "SegmentSAM", "inputs": {"frames": "src.frames"},
                    "params": {"checkpoint": checkpoint} if checkpoint else {}},
        "track": {"type": "PrTrack", "inputs": {"frames": "src.frames"}},
    }
    if with_points:
        nodes["clicks"] = {"type": "PointPrompt", "params": {"frame": 0, "points": [[12, 15, True]],
                                                              "object_ids": [1]}}
        nodes["segment"]["inputs"]["points"] = "clicks.points"
    return {"format": "inpainterz-graph", "version": 1, "nodes": nodes}


@pytest.fixture(scope="module")
def app():
    return qt.application()


@pytest.fixture
def env(tmp_path, monkeypatch):
    from inpainterz.engine import registry

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "prtest_nodes.py").write_text(PLUGIN)
    monkeypatch.setenv("INPAINTERZ_PLUGIN_PATH", str(plugins))
    monkeypatch.setenv("INPAINTERZ_CACHE", str(tmp_path / "cache"))
    reg = registry.default_registry(reload=True)
    yield reg
    registry._default = None


def open_window(app, registry, doc: dict, path: Path, view: str | None = "segment", frames: bool = True):
    from inpainterz.editor.app import settle
    from inpainterz.editor.window import EditorWindow

    path.write_text(json.dumps(doc, indent=2))
    win = EditorWindow(registry, ask_before_closing=False)
    win.open_graph(path)
    win.resize(1400, 900)
    win.show()
    settle(app)
    win._settle_layout()
    win.activateWindow()  # shortcuts reach only the active window
    assert wait_until(app, lambda: app.activeWindow() is win, 5)
    if view:
        win._view_node(win.doc.node(view))
    win.viewer.canvas.setFocus()
    if frames:  # the chain's frames come up in the viewer before anything is run
        assert wait_until(app, lambda: win.viewer.canvas.image is not None and win.viewer.canvas.clip_size == (W, H))
    return win


def wait_until(app, cond, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.01)
    return False


def widget_point(canvas, x: float, y: float):
    """Where clip pixel (x, y)'s centre is, computed from the canvas's scale and offset."""
    from qtpy.QtCore import QPoint

    return QPoint(round(canvas.offset.x() + (x + 0.5) * canvas.scale),
                  round(canvas.offset.y() + (y + 0.5) * canvas.scale))


def wheel(canvas, pos, steps: int = 1) -> None:
    from qtpy.QtCore import QPoint, QPointF, Qt
    from qtpy.QtGui import QWheelEvent
    from qtpy.QtWidgets import QApplication

    ev = QWheelEvent(QPointF(pos), QPointF(canvas.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 120 * steps),
                     Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(canvas, ev)


def params(win, node_id):
    return win.doc.to_graph().nodes[node_id].params


# ---------------------------------------------------------------- no Qt: the pure functions

def test_view_to_clip_undoes_zoom_pan_and_proxy_scale():
    # A 640x360 clip shown as a 320x180 proxy, magnified 3x, drawn at (-50, 20).
    x, y = pt.view_to_clip(-50 + 3 * 100, 20 + 3 * 40, (-50, 20), 3.0, (320, 180), (640, 360))
    assert (x, y) == (200.0, 80.0)
    assert pt.clip_pixel(199.9, 80.2, (640, 360)) == (199, 80)
    assert pt.clip_pixel(-0.1, 3, (640, 360)) is None


def test_prompts_land_in_the_main_params_or_one_entry_per_frame():
    p = {"frame": 0, "points": [[1, 2, True]], "object_ids": [1]}
    assert pt.add_point(p, 0, 5, 6, False, 1) == {"points": [[1, 2, True], [5, 6, False]], "object_ids": [1, 1]}
    later = pt.add_point(p, 7, 9, 9, True, 2)
    assert later == {"prompts": [{"frame": 7, "points": [[9, 9, True]], "object_ids": [2]}]}
    p2 = dict(p, **later)
    assert pt.frame_points(p2, 7) == [[9, 9, True, 2]] and pt.prompt_frames(p2, "points") == {0, 7}
    assert pt.without_row(p2, "points", 7, 0) == {"prompts": []}
    assert pt.cleared(p2, "points", 0) == {"points": [], "object_ids": []}
    # One box per object and frame: a second box for the same object replaces the first.
    b = pt.add_box({}, 0, (30, 40, 10, 5), 1)
    assert b == {"boxes": [[10, 5, 30, 40]], "object_ids": [1]}
    b2 = dict(b, **pt.add_box(b, 0, (0, 0, 4, 4), 1))
    assert pt.frame_boxes(b2, 0) == [[0, 0, 4, 4, 1]]
    found = pt.nearest({"points": p2, "boxes": b2}, 0, 2, 2)
    assert found[:2] in (("points", 0), ("boxes", 0))
    assert pt.nearest({"points": p2}, 7, 8, 8)[:2] == ("points", 0)


def test_edited_params_run_unchanged_through_the_prompt_node(tmp_path):
    from conftest import node_context

    from inpainterz.nodes import prompts

    p = {"frame": 0, "points": [[1, 2, True]], "object_ids": [1]}
    for edit in (lambda q: pt.add_point(q, 0, 3, 3, False, 1), lambda q: pt.add_point(q, 4, 8, 8, True, 3),
                 lambda q: pt.add_point(q, 4, 9, 1, False, 3)):
        p = dict(p, **edit(p))
    ctx = node_context(tmp_path, "PointPrompt")
    out = prompts.point_prompt.render(ctx, **{"frame": 0, "points": [], "object_ids": [], "prompts": [], **p})
    assert out["points"] == {0: [[1.0, 2.0, True, 1], [3.0, 3.0, False, 1]],
                             4: [[8.0, 8.0, True, 3], [9.0, 1.0, False, 3]]}


def test_live_frames_stay_under_their_budget_and_keep_their_marks():
    from inpainterz.editor.prompting import LiveFrames

    rng = np.random.default_rng(0)
    maps = [rng.integers(0, 3, (40, 50), dtype=np.uint8) for _ in range(4)]  # noise: barely compresses
    one = len(zlib.compress(maps[0].tobytes(), 1))
    live = LiveFrames(budget=int(2.5 * one))  # room for two
    for t, m in enumerate(maps):
        live.add(t, m)
    assert live.bytes <= 2.5 * one and set(live.data) == {0, 1, 2, 3}  # every frame keeps its mark
    assert live.get(0) is None and np.array_equal(live.get(3), maps[3])


def test_target_is_the_selected_node_else_the_chain_s_else_none_to_add(env, tmp_path):
    from inpainterz.engine import Graph

    g = Graph.from_json(chain(), registry=env)
    assert pt.target_for(g, "points", [], "track") == ("clicks", "segment")
    assert pt.target_for(g, "points", ["clicks"], None) == ("clicks", "segment")
    assert pt.target_for(g, "boxes", [], "segment") == (None, "segment")
    g.nodes.pop("segment")
    with pytest.raises(pt.NoTarget, match="no SegmentSAM"):
        pt.target_for(g, "points", [], "src")


# ---------------------------------------------------------------- real events on the viewer

def test_clicks_under_zoom_and_pan_give_clip_pixels_and_shift_click_is_negative(app, env, tmp_path):
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtTest import QTest

    win = open_window(app, env, chain(), tmp_path / "g.json")
    canvas = win.viewer.canvas
    s0, o0 = canvas.scale, canvas.offset
    assert s0 > 1  # the 64x48 clip is fitted, magnified, into the viewer
    # Zoom two wheel steps at a known spot, then pan with the middle button.
    at = QPoint(canvas.width() // 3, canvas.height() // 2)
    wheel(canvas, at, 2)
    s1 = s0 * 1.25 ** 2
    assert canvas.scale == pytest.approx(s1)
    ox, oy = at.x() - (at.x() - o0.x()) * 1.5625, at.y() - (at.y() - o0.y()) * 1.5625
    QTest.mousePress(canvas, Qt.MiddleButton, Qt.NoModifier, QPoint(200, 200))
    QTest.mouseMove(canvas, QPoint(170, 215))
    QTest.mouseRelease(canvas, Qt.MiddleButton, Qt.NoModifier, QPoint(170, 215))
    ox, oy = ox - 30, oy + 15
    assert (canvas.offset.x(), canvas.offset.y()) == (pytest.approx(ox), pytest.approx(oy))

    # Clip pixel (20, 18), found from the transform worked out here, not the canvas's own mapping.
    target = QPoint(round(ox + 20.5 * s1), round(oy + 18.5 * s1))
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.NoModifier, target)
    assert params(win, "clicks")["points"] == [[12, 15, True], [20, 18, True]]
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.ShiftModifier, widget_point(canvas, 40, 30))
    QTest.mouseClick(canvas, Qt.RightButton, Qt.NoModifier, widget_point(canvas, 41, 31))
    assert params(win, "clicks")["points"][2:] == [[40, 30, False], [41, 31, False]]
    assert params(win, "clicks")["object_ids"] == [1, 1, 1, 1]
    win.close()


def test_drag_gives_a_box_and_undo_redo_work_from_the_keyboard(app, env, tmp_path):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    win = open_window(app, env, chain(), tmp_path / "g.json")
    canvas = win.viewer.canvas
    nodes_before = {n.node_id for n in win.doc.nodes()}
    QTest.keyClick(canvas, Qt.Key_B)
    assert canvas.tool == "box"
    a, b = widget_point(canvas, 5, 6), widget_point(canvas, 30, 25)
    QTest.mousePress(canvas, Qt.LeftButton, Qt.NoModifier, a)
    QTest.mouseMove(canvas, b)
    QTest.mouseRelease(canvas, Qt.LeftButton, Qt.NoModifier, b)
    # No BoxPrompt fed the chain: one was added and wired into segment.boxes.
    added = {n.node_id for n in win.doc.nodes()} - nodes_before
    assert len(added) == 1
    box_node = added.pop()
    g = win.doc.to_graph()
    assert g.nodes[box_node].type == "BoxPrompt" and g.nodes["segment"].inputs["boxes"] == f"{box_node}.boxes"
    assert g.nodes[box_node].params == {"boxes": [[5, 6, 31, 26]], "object_ids": [1]}

    QTest.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier)  # one step takes the node, its wire and the box
    g = win.doc.to_graph()
    assert set(g.nodes) == nodes_before and "boxes" not in g.nodes["segment"].inputs
    QTest.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    g = win.doc.to_graph()
    assert g.nodes["segment"].inputs["boxes"] == f"{box_node}.boxes"
    assert g.nodes[box_node].params == {"boxes": [[5, 6, 31, 26]], "object_ids": [1]}

    # The saved graph holds the prompt and runs headless as it is.
    saved = tmp_path / "saved.json"
    win.doc.save(saved)
    doc = json.loads(saved.read_text())
    assert doc["nodes"][box_node]["params"]["boxes"] == [[5, 6, 31, 26]]
    win.close()


def test_a_click_with_no_prompt_node_creates_and_wires_one(app, env, tmp_path):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    win = open_window(app, env, chain(with_points=False), tmp_path / "g.json", view="track")
    canvas = win.viewer.canvas
    QTest.keyClick(canvas, Qt.Key_3)  # object 3
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.NoModifier, widget_point(canvas, 10, 11))
    g = win.doc.to_graph()
    ref = g.nodes["segment"].inputs["points"]
    node = ref.split(".")[0]
    assert g.nodes[node].type == "PointPrompt"
    assert g.nodes[node].params == {"points": [[10, 11, True]], "object_ids": [3]}
    assert g.validate(check_files=False) == []
    win.doc.view._undo_stack.undo()
    assert node not in win.doc.to_graph().nodes
    win.close()


def test_delete_and_clear_and_keyframe_marks(app, env, tmp_path):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    win = open_window(app, env, chain(), tmp_path / "g.json")
    canvas, viewer = win.viewer.canvas, win.viewer
    QTest.keyClick(canvas, Qt.Key_Right)
    QTest.keyClick(canvas, Qt.Key_Right)
    assert viewer.frame == 2
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.NoModifier, widget_point(canvas, 30, 30))
    QTest.keyClick(canvas, Qt.Key_N)  # a new object: 2
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.NoModifier, widget_point(canvas, 50, 40))
    assert pt.frame_points(params(win, "clicks"), 2) == [[30, 30, True, 1], [50, 40, True, 2]]
    assert wait_until(app, lambda: viewer.timeline.slider.keyframes == {0, 2})
    QTest.keyClick(canvas, Qt.Key_Up)
    assert viewer.frame == 0
    QTest.keyClick(canvas, Qt.Key_Down)
    assert viewer.frame == 2
    QTest.keyClick(canvas, Qt.Key_D)
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.NoModifier, widget_point(canvas, 48, 39))
    assert pt.frame_points(params(win, "clicks"), 2) == [[30, 30, True, 1]]
    QTest.keyClick(canvas, Qt.Key_X)
    assert pt.frame_points(params(win, "clicks"), 2) == []
    assert params(win, "clicks")["points"] == [[12, 15, True]]  # frame 0 untouched
    assert viewer.timeline.slider.keyframes == {0}
    QTest.keyClick(canvas, Qt.Key_Space)  # play from frame 2 to the end, where it stops
    assert wait_until(app, lambda: viewer.frame == 5 and not viewer.timeline.playing(), 10)
    win.close()


def track_only() -> dict:
    doc = chain(with_points=False)
    doc["nodes"].pop("segment")  # runs without SAM weights
    return doc


def test_frames_with_detections_are_keyframes_too(app, env, tmp_path):
    stand_in = tmp_path / "sam_vit_b_01ec64.pth"  # the graph must validate to run; SAM itself does not run
    stand_in.write_bytes(b"not loaded")
    doc = chain(checkpoint=str(stand_in))
    doc["nodes"]["det"] = {"type": "PrDetect", "inputs": {"frames": "src.frames"}}
    doc["nodes"]["segment"]["inputs"]["boxes"] = "det.boxes"
    win = open_window(app, env, doc, tmp_path / "g.json", view="track")
    assert win.viewer.timeline.slider.keyframes == {0}  # the click; the detector has not run
    assert win.run(targets=["det"]) and win.wait_for_run(60)
    win._view_node(win.doc.node("track"))
    assert win.viewer.timeline.slider.keyframes == {0, 3}
    win.close()


def test_a_missing_clip_is_named_in_the_viewer(app, env, tmp_path):
    doc = chain()
    doc["nodes"]["src"] = {"type": "ReadVideo", "params": {"path": "gone.mp4"}}
    win = open_window(app, env, doc, tmp_path / "g.json", frames=False)
    assert wait_until(app, lambda: "gone.mp4" in win.viewer.status.text(), 30)
    assert "does not exist" in win.prompting.source_error
    assert win.prompting.settle(app, timeout=5)  # a screenshot does not wait for frames that cannot come
    win.close()


def test_visibility_and_opacity_change_the_picture(app, env, tmp_path):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    win = open_window(app, env, track_only(), tmp_path / "g.json", view="track", frames=False)
    assert win.run() and win.wait_for_run(60)
    win._view_node(win.doc.node("track"))
    viewer = win.viewer
    tinted = viewer.last_picture.image.copy()
    assert 2 in viewer.last_picture.objects
    viewer.opacity.setValue(100)
    from inpainterz.engine.palette import colour_of

    assert tuple(viewer.last_picture.image[40, 5]) == colour_of(2)
    QTest.mouseClick(viewer.object_checks[2], Qt.LeftButton)  # untick object 2
    assert tuple(viewer.last_picture.image[40, 5]) == (30, 30, 30)  # hidden: the bare frame
    assert not np.array_equal(tinted, viewer.last_picture.image)
    win.close()


def test_running_tracker_shows_its_finished_frames(app, env, tmp_path):
    doc = track_only()
    doc["nodes"]["track"]["params"] = {"slow": 0.3}
    win = open_window(app, env, doc, tmp_path / "g.json", view="track", frames=False)
    assert win.run()
    viewer = win.viewer
    assert wait_until(app, lambda: viewer.last_picture is not None and 0 < len(viewer.timeline.slider.rendered) < 6)
    done = set(viewer.timeline.slider.rendered)
    assert done == set(range(len(done)))  # the frames finished so far, from 0
    assert 2 in viewer.last_picture.objects or viewer.frame not in done
    assert win.wait_for_run(60)
    assert viewer.timeline.slider.rendered == set(range(6))
    win.close()


def test_a_click_on_a_tracked_frame_adds_a_keyframe_there(app, env, tmp_path):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    win = open_window(app, env, chain(), tmp_path / "g.json", view="track")
    canvas = win.viewer.canvas
    for _ in range(4):
        QTest.keyClick(canvas, Qt.Key_Right)
    QTest.keyClick(canvas, Qt.Key_1)
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.NoModifier, widget_point(canvas, 20, 20))
    p = params(win, "clicks")
    assert p["points"] == [[12, 15, True]]  # frame 0 as it was
    assert p["prompts"] == [{"frame": 4, "points": [[20, 20, True]], "object_ids": [1]}]
    assert win.viewer.node_id == "track"  # the viewer stays on the tracked result
    win.close()


def test_preview_renders_the_removal_without_writing_and_toggles_before_after(app, env, tmp_path):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    doc = track_only()
    out = tmp_path / "clean.mp4"
    doc["nodes"]["fill"] = {"type": "InpaintOpenCV", "inputs": {"frames": "src.frames", "masks": "track.masks"}}
    doc["nodes"]["write"] = {"type": "WriteVideo", "inputs": {"frames": "fill.frames"}, "params": {"path": str(out)}}
    win = open_window(app, env, doc, tmp_path / "g.json", view="track", frames=False)
    viewer = win.viewer
    viewer.canvas.setFocus()
    QTest.keyClick(viewer.canvas, Qt.Key_P)
    assert win.wait_for_run(60)
    assert viewer.node_id == "fill" and viewer.frame == 0
    assert win.result.ok and "write" not in win.result.nodes and not out.exists()
    assert win.result.nodes["fill"].frames["rendered"] == 1  # the engine renders frame ranges: frame 0 only
    after = viewer.last_picture.image.copy()
    QTest.keyClick(viewer.canvas, Qt.Key_V)
    assert viewer.title.text() == "fill.frames: before"
    before = viewer.last_picture.image
    assert tuple(before[40, 5]) == (30, 30, 30)  # the plate itself
    assert not np.array_equal(before[:, :32], after[:, :32])  # the left half was inpainted
    assert np.array_equal(before[:, 40:], after[:, 40:])  # outside the mask: the plate
    win.close()


# ---------------------------------------------------------------- the instant mask, with SAM test weights

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")


@pytest.mark.slow
def test_instant_mask_embeds_a_frame_once_and_decodes_per_click(app, env, tmp_path, sam_checkpoint):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    torch.set_num_threads(2)
    doc = chain(checkpoint=str(sam_checkpoint))
    doc["nodes"]["fill"] = {"type": "InpaintOpenCV", "inputs": {"frames": "src.frames", "masks": "track.masks"}}
    win = open_window(app, env, doc, tmp_path / "g.json")
    canvas, ctl = win.viewer.canvas, win.prompting
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.NoModifier, widget_point(canvas, 15, 20))
    # The encoder runs in the background: the window keeps taking clicks meanwhile.
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.ShiftModifier, widget_point(canvas, 5, 5))
    assert wait_until(app, lambda: ctl.worker is not None and ctl.worker.idle() and 0 in ctl.previews, 240)
    assert ctl.worker.encoder_calls == 1
    assert ctl.worker.decoder_calls <= 2  # a click that arrived during the encoder is answered, not queued
    state, labels = ctl.previews[0]
    assert labels.shape == (H, W) and labels.dtype == np.uint8
    assert state == ctl._state(pt.frame_points(params(win, "clicks"), 0), [])  # the latest clicks won

    decoded = ctl.worker.decoder_calls
    QTest.mouseClick(canvas, Qt.LeftButton, Qt.NoModifier, widget_point(canvas, 40, 30))
    assert wait_until(app, lambda: ctl.worker.idle() and ctl.worker.decoder_calls == decoded + 1, 60)
    assert ctl.worker.encoder_calls == 1  # the second click costs one decoder pass, no encoder
    assert ctl.previews[0][0] == ctl._state(pt.frame_points(params(win, "clicks"), 0), [])
    assert "SAM mask in" in win.viewer.status.text()
    assert ctl.layer(0).labels is not None
    win._view_node(win.doc.node("fill"))  # a removal: SAM's mask is not drawn over it
    assert ctl.layer(0).labels is None
    win.close()

    # The embedding is on disk in the content cache: another editor opening the graph shows the
    # mask of the prompted frame from it, with no encoder run.
    win = open_window(app, env, chain(checkpoint=str(sam_checkpoint)), tmp_path / "g.json")
    ctl = win.prompting
    assert wait_until(app, lambda: ctl.worker is not None and ctl.worker.idle() and 0 in ctl.previews, 60)
    assert ctl.worker.encoder_calls == 0 and ctl.worker.decoder_calls >= 1
    win.close()


@pytest.mark.slow
def test_screenshot_shows_prompts_the_sam_mask_and_keyframe_marks(env, tmp_path, sam_checkpoint):
    import cv2

    doc = chain(checkpoint=str(sam_checkpoint))
    doc["nodes"]["clicks"]["params"]["prompts"] = [{"frame": 4, "points": [[40, 30, True]], "object_ids": [2]}]
    path = tmp_path / "g.json"
    path.write_text(json.dumps(doc, indent=2))
    shot = Path(os.environ.get("INPAINTERZ_SHOT_DIR", tmp_path)) / "prompts_screenshot.png"
    env_vars = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run(cli_command("edit", path, "--screenshot", shot), capture_output=True, text=True,
                          timeout=600, env=env_vars)
    assert proc.returncode == 0, proc.stderr
    image = cv2.imread(str(shot))[:, :, ::-1]
    assert image.shape[0] > 500

    def count(rgb) -> int:
        return int(np.all(image == np.array(rgb, np.uint8), axis=2).sum())

    assert count((0xF0, 0xB4, 0x29)) >= 2 * 7  # keyframe ticks on the timeline: frames 0 and 4
    assert count((128, 0, 0)) > 50  # object 1's prompt discs, in its palette colour
