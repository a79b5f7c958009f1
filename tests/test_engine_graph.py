"""Graph files: validation messages, round trips, migration, --set parsing, the Python API."""
import json
from pathlib import Path

import pytest

from inpainterz.engine import Graph, GraphError
from inpainterz.engine import graph as graph_mod

REPO = Path(__file__).resolve().parents[1]


def doc(nodes, **extra):
    return {"format": "inpainterz-graph", "version": 1, "nodes": nodes, **extra}


def problems_of(reg, nodes):
    g = Graph.from_json(doc(nodes), registry=reg)
    return [str(p) for p in g.validate()]


def test_every_problem_is_reported_at_once_one_line_each(counting_registry):
    lines = problems_of(counting_registry, {
        "src": {"type": "TSource", "params": {"value": 300, "n": "three", "colour": 1}},
        "what": {"type": "TSorce"},
        "off": {"type": "TOffset", "inputs": {"frames": "nowhere.frames", "extra": "src.frames"}},
        "join": {"type": "TJoin"},
        "typo": {"type": "TOffset", "inputs": {"frames": "src.frame"}},
    })
    expected = [
        "node 'src' (TSource): param 'value': 300 is above the maximum 255",
        "node 'src' (TSource): param 'n': expected an integer, got 'three'",
        "node 'src' (TSource): param 'colour': unknown param",
        "node 'what': unknown node type 'TSorce' (did you mean 'TSource'?)",
        "node 'off' (TOffset): input 'frames': refers to 'nowhere.frames' but there is no node 'nowhere'",
        "node 'off' (TOffset): input 'extra': unknown input",
        "node 'join' (TJoin): input 'a': required input is not connected (it takes Frames)",
        "node 'typo' (TOffset): input 'frames': refers to 'src.frame' but TSource has no output 'frame' (outputs: frames)",
    ]
    for want in expected:
        assert any(line.startswith(want) for line in lines), (want, lines)
    assert len(lines) == len(expected)


def test_choice_type_mismatch_and_cycle(counting_registry):
    from inpainterz.engine import Input, Output, Param, node
    from inpainterz.engine.registry import Registry

    @node("TPick", inputs=[Input("masks", "Masks")], outputs=[Output("masks", "Masks")],
          params=[Param("mode", "choice", "a", choices=["a", "b"])])
    def pick(ctx, masks, mode):
        return masks

    reg = Registry(dict(counting_registry.types))
    reg.add(pick, "test")
    lines = problems_of(reg, {
        "src": {"type": "TSource"},
        "pick": {"type": "TPick", "params": {"mode": "c"}, "inputs": {"masks": "src.frames"}},
        "x": {"type": "TOffset", "inputs": {"frames": "z.frames"}},
        "y": {"type": "TOffset", "inputs": {"frames": "x.frames"}},
        "z": {"type": "TOffset", "inputs": {"frames": "y.frames"}},
    })
    assert "node 'pick' (TPick): param 'mode': 'c' is not one of a, b" in lines
    assert "node 'pick' (TPick): input 'masks': 'src.frames' gives Frames but this input takes Masks" in lines
    assert "the graph has a cycle: x -> y -> z -> x" in lines
    assert len(lines) == 3


def test_missing_input_file_and_unwritable_output_are_reported(counting_registry, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    lines = problems_of(counting_registry, {
        "read": {"type": "TReadNumber", "params": {"path": str(tmp_path / "missing.txt")}},
        "sink": {"type": "TSink", "inputs": {"frames": "read.frames"}, "params": {"path": str(blocker / "out.txt")}},
    })
    assert any("param 'path': file" in line and "missing.txt does not exist" in line for line in lines)
    assert any(line.startswith("node 'sink' (TSink): param 'path': cannot write") and "is a file, not a folder" in line
               for line in lines)


def test_load_save_gives_back_the_same_bytes(counting_registry, tmp_path):
    g = Graph(registry=counting_registry)
    src = g.add("TSource", id="src", value=4)
    g.add("TOffset", id="off", frames=src.frames, k=2)
    g.ui["src"] = {"x": 0, "y": 10}
    path = g.save(tmp_path / "g.json")
    text = path.read_text()
    assert text.endswith("\n") and json.loads(text)["nodes"]["off"]["inputs"] == {"frames": "src.frames"}
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    again = Graph.load(path, registry=counting_registry)
    again.save(tmp_path / "g2.json")
    assert (tmp_path / "g2.json").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", sorted((REPO / "graphs").glob("*.json")), ids=lambda p: p.name)
def test_shipped_graphs_round_trip_byte_for_byte(path, tmp_path):
    g = Graph.load(path)
    g.save(tmp_path / path.name)
    assert (tmp_path / path.name).read_bytes() == path.read_bytes()


def test_loading_never_runs_code(tmp_path, counting_registry):
    marker = tmp_path / "ran"
    evil = doc({"x": {"type": "__import__('os').system('touch %s')" % marker,
                      "params": {"path": "!!python/object:os.system"}}})
    p = tmp_path / "evil.json"
    p.write_text(json.dumps(evil))
    g = Graph.load(p, registry=counting_registry)
    assert any("unknown node type" in str(pr) for pr in g.validate())
    assert not marker.exists()


def test_bad_files_give_clear_errors(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{ not json")
    with pytest.raises(GraphError, match=r"broken.json: not valid JSON at line 1"):
        Graph.load(p)
    with pytest.raises(GraphError, match="no such graph file"):
        Graph.load(tmp_path / "nope.json")
    p.write_text(json.dumps({"format": "something-else", "version": 1, "nodes": {}}))
    with pytest.raises(GraphError, match="'format' must be"):
        Graph.load(p)
    p.write_text(json.dumps(doc({}) | {"version": 99}))
    with pytest.raises(GraphError, match="newer than this inpainterz reads"):
        Graph.load(p)


def test_older_versions_are_migrated_through_the_hook(monkeypatch, counting_registry):
    # Pretend the format is at version 2, where TSource's param `value` was called `level` in v1.
    def v1_to_v2(d):
        for nd in d["nodes"].values():
            if nd["type"] == "TSource" and "level" in nd.get("params", {}):
                nd["params"]["value"] = nd["params"].pop("level")
        d["version"] = 2
        return d

    monkeypatch.setattr(graph_mod, "VERSION", 2)
    monkeypatch.setitem(graph_mod.MIGRATIONS, 1, v1_to_v2)
    g = Graph.from_json(doc({"s": {"type": "TSource", "params": {"level": 9}}}), registry=counting_registry)
    assert g.nodes["s"].params == {"value": 9}
    assert g.to_json()["version"] == 2


def test_set_values_are_parsed_by_param_type(counting_registry, tmp_path):
    g = Graph(registry=counting_registry, base_dir=tmp_path)
    g.add("TSource", id="src")
    g.add("TReadNumber", id="read", path="n.txt")
    g.apply_sets(["src.value=0x10", "src.sleep=0.5", "read.path=rel/n.txt"], cwd=tmp_path / "cwd")
    assert g.nodes["src"].params == {"value": 16, "sleep": 0.5}
    assert g.nodes["read"].params["path"] == str(tmp_path / "cwd" / "rel" / "n.txt")
    with pytest.raises(GraphError) as err:
        g.apply_sets(["src.value=300", "src.n=two", "src=3", "nope.x=1", "src.bogus=1"])
    lines = err.value.lines()
    assert lines[0] == "node 'src' (TSource): --set param 'value': 300 is above the maximum 255"
    assert lines[1] == "node 'src' (TSource): --set param 'n': expected an integer, got 'two'"
    assert "expected NODE.PARAM=VALUE" in lines[2]
    assert "no node 'nope'" in lines[3]
    assert "--set param 'bogus': no such param" in lines[4]


def test_paths_in_a_graph_file_resolve_against_its_folder(counting_registry, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "n.txt").write_text("5")
    g = Graph(registry=counting_registry)
    g.add("TReadNumber", id="read", path="n.txt")
    g.save(tmp_path / "sub" / "g.json")
    loaded = Graph.load(tmp_path / "sub" / "g.json", registry=counting_registry)
    assert loaded.params_of("read")["path"] == tmp_path / "sub" / "n.txt"
    assert loaded.validate() == []


def test_python_api_outputs_as_attributes(counting_registry, test_log, tmp_path):
    g = Graph(registry=counting_registry)
    src = g.add("TSource", value=7)
    off = g.add("TOffset", frames=src.frames, k=3)
    assert src.id == "t_source1" and off.id == "t_offset1"
    assert g.nodes[off.id].inputs == {"frames": "t_source1.frames"}
    with pytest.raises(AttributeError, match="has no output 'mask'"):
        src.mask
    off.k = 4
    clip = g.output(off.frames, cache_dir=tmp_path / "cache")
    assert clip[0][0, 0, 0] == 11
    g.save(tmp_path / "api.json")
    assert Graph.load(tmp_path / "api.json", registry=counting_registry).nodes[off.id].params == {"k": 4}
