"""Plugin discovery: entry points, INPAINTERZ_PLUGIN_PATH, import failures, id clashes, the README example."""
import re
import textwrap
from pathlib import Path

import numpy as np

from inpainterz.engine import Graph
from inpainterz.engine.registry import load_registry

REPO = Path(__file__).resolve().parents[1]

NODE_SRC = '''
from inpainterz.engine import node, Input, Output
@node("{id}", category="plugins", doc="test node", inputs=[Input("masks", "Masks")], outputs=[Output("masks", "Masks")])
def render(ctx, masks):
    return masks
'''


def test_plugin_path_files_are_loaded(tmp_path, monkeypatch):
    (tmp_path / "mine.py").write_text(NODE_SRC.format(id="MyNode"))
    (tmp_path / "_private.py").write_text("raise RuntimeError('never imported')")
    monkeypatch.setenv("INPAINTERZ_PLUGIN_PATH", str(tmp_path))
    reg = load_registry()
    assert reg.get("MyNode").origin == str(tmp_path / "mine.py")
    assert not any("_private" in p for p in reg.problems)


def test_a_broken_plugin_is_reported_and_skipped(tmp_path, monkeypatch):
    (tmp_path / "good.py").write_text(NODE_SRC.format(id="GoodNode"))
    (tmp_path / "broken.py").write_text("import numpy\nimport not_a_module_anywhere\n")
    monkeypatch.setenv("INPAINTERZ_PLUGIN_PATH", str(tmp_path))
    reg = load_registry()
    assert "GoodNode" in reg
    (problem,) = [p for p in reg.problems if "broken.py" in p]
    assert "failed to import and is skipped (line 2)" in problem and "not_a_module_anywhere" in problem


def test_two_types_with_one_id_name_both_origins(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "one.py").write_text(NODE_SRC.format(id="Twin"))
    (b / "two.py").write_text(NODE_SRC.format(id="Twin"))
    monkeypatch.setenv("INPAINTERZ_PLUGIN_PATH", f"{a}:{b}")
    reg = load_registry()
    (problem,) = [p for p in reg.problems if "Twin" in p]
    assert str(a / "one.py") in problem and str(b / "two.py") in problem
    g = Graph.from_json({"format": "inpainterz-graph", "version": 1, "nodes": {"t": {"type": "Twin"}}}, registry=reg)
    assert any("defined twice" in str(p) and str(b / "two.py") in str(p) for p in g.validate())


def test_entry_point_plugins_are_loaded(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist = site / "inpainterz_extra-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: inpainterz-extra\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[inpainterz.nodes]\nextra = inpainterz_extra_nodes\n")
    (site / "inpainterz_extra_nodes.py").write_text(NODE_SRC.format(id="ExtraNode"))
    monkeypatch.syspath_prepend(str(site))
    reg = load_registry()
    assert reg.get("ExtraNode").origin == "entry point 'extra' (inpainterz_extra_nodes)"


def test_readme_plugin_example_works(tmp_path, monkeypatch):
    """The README shows a compositor how to write a node; that exact code must run."""
    readme = (REPO / "README.md").read_text()
    m = re.search(r"<!-- plugin-example -->\s*```python\n(.*?)```", readme, re.S)
    assert m, "README.md has no plugin example"
    code = textwrap.dedent(m.group(1))
    assert len([line for line in code.splitlines() if line.strip() and not line.startswith("#")]) <= 12
    (tmp_path / "invert.py").write_text(code)
    monkeypatch.setenv("INPAINTERZ_PLUGIN_PATH", str(tmp_path))
    reg = load_registry()
    assert not [p for p in reg.problems if "invert.py" in p]
    nt = reg.get("InvertMask")

    from inpainterz.engine.data import masks_writer

    w = masks_writer(tmp_path / "m", 4, 5)
    w.append(np.array([[0, 1, 0, 0, 2]] * 4, np.uint8))
    masks = w.close()

    class Ctx:
        def new_masks(self, h, w):
            return masks_writer(tmp_path / "out", h, w)

        def progress(self, fraction, note=None):
            pass

    out = nt.render(Ctx(), masks=masks)
    assert out[0][0].tolist() == [1, 0, 1, 1, 0]
