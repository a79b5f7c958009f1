"""Every command the program prints as advice works as printed.

Each kind of hint is provoked for real (a missing checkpoint before a run, a
full disk and a broken connection during a fetch, a damaged checkpoint file,
a file present but not yet hashed, an empty checkpoint folder, an unknown node
type), the `inpainterz ...` command is cut out of the message, run through
the one CLI parser, and then shown to have done what the message says.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex

import pytest

from conftest import REPO
from inpainterz.app.cli import build_parser, main
from inpainterz.engine import BadInput
from inpainterz.engine import checkpoints as ck
from inpainterz.engine.checkpoints import manifest
from test_models_fetch import Server

PAYLOAD = bytes(range(251)) * 10_000  # 2.5 MB: more than one read block
SHA = hashlib.sha256(PAYLOAD).hexdigest()
COMMAND = re.compile(r"inpainterz(?: [^\s`()]+)+(?=[\s`)]|$)")


def hints(text: str) -> list[list[str]]:
    """The argv of every `inpainterz ...` command printed in `text` (minus `inpainterz` itself)."""
    text = re.sub(r"inpainterz [\w ]+: ", "", text)  # "inpainterz weights fetch: ..." names what failed
    return [shlex.split(m.group(0).rstrip("."))[1:] for m in COMMAND.finditer(text)]


def run_hint(argv: list[str], capsys) -> tuple[int, str]:
    build_parser().parse_args(argv)  # it parses (argparse exits 2 otherwise) ...
    code = main(argv)  # ... and runs
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture
def server():
    s = Server()
    s.body = PAYLOAD
    yield s
    s.close()


@pytest.fixture
def sam_served(tmp_path, monkeypatch, server, isolated_checkpoints):
    """The real manifest, with SAM vit_b's file served by a local server (no internet here)."""
    doc = json.loads((REPO / "ckpt" / "weights.json").read_text())
    for item in doc["checkpoints"]:
        if item["name"] == "sam_vit_b":
            item.update(url=server.base + "/sam/w.pth", size=len(PAYLOAD), sha256=SHA, file="w.pth")
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setattr(manifest, "MANIFEST_PATH", path)
    return path


def sam_graph(tmp_path) -> str:
    """A graph whose SegmentSAM needs the vit_b checkpoint: validating it runs the node's preflight."""
    import cv2
    import numpy as np

    shot = tmp_path / "shot"
    shot.mkdir()
    for t in range(2):
        cv2.imwrite(str(shot / f"f.{t:04d}.png"), np.full((32, 32, 3), 60 + t, np.uint8))
    doc = {"format": "inpainterz-graph", "version": 1, "nodes": {
        "read": {"type": "ReadImages", "params": {"path": "shot/f.%04d.png"}},
        "boxes": {"type": "BoxPrompt", "params": {"boxes": [[4, 4, 20, 20]]}},
        "segment": {"type": "SegmentSAM", "inputs": {"frames": "read.frames", "boxes": "boxes.boxes"}}}}
    path = tmp_path / "sam.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("with_dir", [False, True], ids=["user-folder", "ckpt-dir"])
def test_a_missing_checkpoint_names_a_fetch_that_the_next_run_finds(tmp_path, sam_served, capsys, with_dir):
    graph = sam_graph(tmp_path)
    opts = ["--ckpt-dir", str(tmp_path / "my ckpt")] if with_dir else []
    code = main(["run", graph, "--cache-dir", str(tmp_path / "cache"), *opts])
    err = capsys.readouterr().err
    assert code == 2 and "segment" in err
    [hint] = [h for h in hints(err) if h[:2] == ["weights", "fetch"]]
    assert hint == ["weights", "fetch", "sam_vit_b", *opts]
    code, text = run_hint(hint, capsys)
    assert code == 0, text
    # Fetched where the same command line looks: validation (the preflight) passes with no other change.
    assert main(["validate", graph, *opts]) == 0, capsys.readouterr().err
    if not with_dir:
        assert (ck.user_ckpt_dir() / "w.pth").read_bytes() == PAYLOAD


def test_a_checkpoint_file_param_that_is_wrong_says_how_to_use_the_official_file(tmp_path, sam_served, capsys):
    graph = sam_graph(tmp_path)
    # A file that is not there: correct the path, or empty the param and fetch the official file.
    assert main(["validate", graph, "-s", f"segment.checkpoint={tmp_path / 'nope.pth'}"]) == 2
    err = capsys.readouterr().err
    assert "empty the param" in err
    [hint] = hints(err)
    code, text = run_hint(hint, capsys)
    assert code == 0, text
    assert main(["validate", graph, "-s", "segment.checkpoint="]) == 0, capsys.readouterr().err


def test_a_checkpoint_folder_param_gets_a_fetch_into_that_folder(tmp_path, sam_served, capsys):
    from inpainterz.engine.config import RunConfig

    folder = tmp_path / "weights"
    folder.mkdir()
    with pytest.raises(BadInput) as info:  # the node looks only in the folder its param names
        RunConfig().find_checkpoint("sam_vit_b", folder)
    [hint] = hints(str(info.value))
    assert hint[-2:] == ["--ckpt-dir", str(folder.resolve())]
    code, text = run_hint(hint, capsys)
    assert code == 0, text
    assert RunConfig().find_checkpoint("sam_vit_b", folder) == folder / "w.pth"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to fill a disk for real")
def test_disk_full_advice_works_as_printed(tmp_path, sam_served, server, capsys):
    small = tmp_path / "small"
    small.mkdir()
    # The download's partial file is /dev/full: every write fails with ENOSPC, as on a full disk.
    (small / "w.pth.part").symlink_to("/dev/full")
    argv = ["weights", "fetch", "sam_vit_b", "--ckpt-dir", str(small)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "disk full" in err and "run the same command again" in err
    [elsewhere] = hints(err)
    # "Or fetch onto another disk with: ... --ckpt-dir DIR": DIR stands for the folder.
    assert elsewhere == ["weights", "fetch", "sam_vit_b", "--ckpt-dir", "DIR"]
    other = tmp_path / "big"
    code, text = run_hint(elsewhere[:-1] + [str(other)], capsys)
    assert code == 0, text
    assert (other / "w.pth").read_bytes() == PAYLOAD
    # "Free some space and run the same command again".
    (small / "w.pth.part").unlink()
    code, text = run_hint(argv, capsys)
    assert code == 0, text
    assert (small / "w.pth").read_bytes() == PAYLOAD


def test_a_broken_connection_says_to_run_the_same_command_again(tmp_path, sam_served, server, capsys):
    argv = ["weights", "fetch", "sam_vit_b", "--ckpt-dir", str(tmp_path / "d")]
    server.cut_next_at = 100_000
    assert main(argv) == 1
    assert "run the same command again to resume" in capsys.readouterr().err
    code, text = run_hint(argv, capsys)
    assert code == 0, text
    assert (tmp_path / "d" / "w.pth").read_bytes() == PAYLOAD


def test_a_damaged_checkpoint_names_the_fetch_that_replaces_it(tmp_path, sam_served, capsys):
    pytest.importorskip("torch")
    from inpainterz.engine.config import RunConfig

    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "w.pth").write_bytes(b"not a checkpoint")
    config = RunConfig(ckpt_dirs=(folder,))
    with pytest.raises(BadInput) as info:
        ck.load_state_dict(config.find_checkpoint("sam_vit_b"), "SAM vit_b", fetch_hint=config.fetch_hint("sam_vit_b"))
    [hint] = hints(str(info.value))
    code, text = run_hint(hint, capsys)
    assert code == 0, text
    assert (folder / "w.pth").read_bytes() == PAYLOAD  # the damaged copy is replaced


def test_list_and_verify_hints(tmp_path, sam_served, capsys):
    folder = tmp_path / "ckpt"
    code, out = run_hint(["weights", "verify", "--ckpt-dir", str(folder)], capsys)
    assert code == 0 and "no checkpoints present" in out
    [default] = hints(out)
    assert default == ["weights", "fetch", "default", "--ckpt-dir", str(folder)]
    build_parser().parse_args(default)  # the default set lives on the internet: parsed, not run
    folder.mkdir()
    (folder / "w.pth").write_bytes(PAYLOAD)
    code, out = run_hint(["weights", "list", "--ckpt-dir", str(folder)], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("sam_vit_b"))
    assert "present" in row
    [listed_default] = [h for h in hints(out) if "default" in h]
    assert listed_default == default
    # A present file not hashed yet says how to hash it; that command does, and records it.
    status = next(s for s in ck.list_status([folder]) if s.entry.name == "sam_vit_b")
    [verify] = hints(status.detail)
    code, out = run_hint(verify, capsys)
    assert code == 0 and "w.pth: verified (sha256)" in out
    assert next(s for s in ck.list_status([folder]) if s.entry.name == "sam_vit_b").state == "verified"


def test_an_unknown_node_type_points_at_the_list(capsys):
    assert main(["describe", "DilateMasks"]) == 2
    err = capsys.readouterr().err
    [hint] = hints(err)
    code, out = run_hint(hint, capsys)
    assert code == 0 and "DilateMask" in out
