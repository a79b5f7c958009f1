"""Checkpoints: the manifest, finding files, clear errors, safe loading."""
import json
import re

import pytest

from inpainterz.engine import BadInput
from inpainterz.engine import checkpoints as ck
from inpainterz.engine.checkpoints.manifest import MANIFEST_PATH


@pytest.fixture(autouse=True)
def clean_search(isolated_checkpoints):
    """Every test here searches only folders it makes."""


# ---------------------------------------------------------------- manifest

def test_manifest_lists_every_model_with_the_fields_nodes_need():
    entries = ck.load_manifest()
    names = {e.name for e in entries}
    for name in ("sam_vit_b", "sam_vit_l", "sam_vit_h", "groundingdino_swint_ogc", "groundingdino_swinb",
                 "r50_deaotl", "deaott", "deaots", "deaotb", "deaotl", "swinb_deaotl", "e2fgvi", "e2fgvi_hq"):
        assert name in names
    bert = [e for e in entries if e.bundle == "bert-base-uncased"]
    assert {e.file for e in bert} >= {"bert-base-uncased/config.json", "bert-base-uncased/vocab.txt",
                                       "bert-base-uncased/model.safetensors", "bert-base-uncased/tokenizer.json"}
    for e in entries:
        assert e.url.startswith("https://")
        assert e.licence and e.node and e.model
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256)
        assert e.size is None or e.size > 0
        if e.sha256 is None:
            assert e.checksum_source is None
    default = {e.fetch_name for e in entries if e.default}
    assert default == {"sam_vit_b", "groundingdino_swint_ogc", "bert-base-uncased", "r50_deaotl", "e2fgvi_hq"}
    assert all("non-commercial" in e.licence.lower() for e in entries if e.node == "InpaintE2FGVI")


def test_manifest_file_is_canonical_json():
    text = MANIFEST_PATH.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_select_by_name_bundle_default_and_bad_name():
    assert [e.name for e in ck.select("sam_vit_b")] == ["sam_vit_b"]
    assert [e.name for e in ck.select("sam_vit_b_01ec64.pth")] == ["sam_vit_b"]
    assert len(ck.select("bert-base-uncased")) == 5
    assert all(e.default for e in ck.select("default"))
    with pytest.raises(BadInput, match="no checkpoint named 'nope'"):
        ck.select("nope")


# ---------------------------------------------------------------- finding files

def test_missing_checkpoint_names_the_file_and_the_fetch_command(tmp_path):
    with pytest.raises(BadInput) as info:
        ck.find_checkpoint("sam_vit_b")
    msg = str(info.value)
    assert "sam_vit_b_01ec64.pth" in msg
    assert "inpainterz weights fetch sam_vit_b" in msg
    assert str(tmp_path / "ckpt") in msg


def test_missing_bundle_names_the_folder_and_the_fetch_command():
    with pytest.raises(BadInput, match="inpainterz weights fetch bert-base-uncased"):
        ck.find_checkpoint("bert-base-uncased")


def test_search_order_param_then_ckpt_dir_then_env_then_cwd(tmp_path, monkeypatch):
    name = "R50_DeAOTL_PRE_YTB_DAV.pth"
    dirs = {k: tmp_path / k for k in ("option", "env", "ckpt", "explicit")}
    for d in dirs.values():
        d.mkdir(exist_ok=True)
        (d / name).write_bytes(b"x")
    monkeypatch.setenv(ck.CKPT_ENV, str(dirs["env"]))
    option = [dirs["option"]]
    assert ck.find_checkpoint("r50_deaotl", ckpt_dirs=option) == dirs["option"] / name
    assert ck.find_checkpoint("r50_deaotl", dirs["explicit"] / name, ckpt_dirs=option) == dirs["explicit"] / name
    assert ck.find_checkpoint("r50_deaotl", dirs["explicit"], ckpt_dirs=option) == dirs["explicit"] / name
    assert ck.find_checkpoint("r50_deaotl") == dirs["env"] / name
    monkeypatch.delenv(ck.CKPT_ENV)
    assert ck.find_checkpoint("r50_deaotl") == (tmp_path / "ckpt" / name).resolve()


def test_explicit_path_that_does_not_exist_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="param 'checkpoint'.*does not exist.*fetch sam_vit_h"):
        ck.find_checkpoint("sam_vit_h", tmp_path / "nothing.pth")


def test_bundle_is_found_only_when_complete(tmp_path):
    d = tmp_path / "ckpt" / "bert-base-uncased"
    d.mkdir(parents=True)
    for e in ck.select("bert-base-uncased")[:-1]:
        (tmp_path / "ckpt" / e.file).write_text("x")
    with pytest.raises(BadInput, match="tokenizer_config.json missing"):
        ck.find_checkpoint("bert-base-uncased")
    (tmp_path / "ckpt" / ck.select("bert-base-uncased")[-1].file).write_text("x")
    assert ck.find_checkpoint("bert-base-uncased") == d.resolve()


# ---------------------------------------------------------------- loading

torch = pytest.importorskip("torch")


def _sam_like():
    return {"image_encoder.patch_embed.proj.weight": torch.zeros(4, 3, 2, 2),
            "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": torch.zeros(2, 4),
            "mask_decoder.iou_token.weight": torch.zeros(1, 4)}


def test_load_state_dict_unwraps_model_and_state_dict_wrappers(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    for wrap in (lambda sd: sd, lambda sd: {"model": sd}, lambda sd: {"state_dict": sd, "epoch": 3},
                 lambda sd: {"state_dict": {"module." + k: v for k, v in sd.items()}}):
        path = tmp_path / "w.pth"
        torch.save(wrap(net.state_dict()), path)
        sd = ck.load_state_dict(path, "tiny", expected_keys=net.state_dict())
        assert set(sd) == set(net.state_dict())


def test_wrong_model_file_says_what_it_looks_like(tmp_path):
    path = tmp_path / "R50_DeAOTL_PRE_YTB_DAV.pth"
    torch.save(_sam_like(), path)
    net = torch.nn.Linear(3, 2)
    with pytest.raises(BadInput, match=r"is not a DeAOT r50_deaotl checkpoint.*looks like a SAM"):
        ck.load_state_dict(path, "DeAOT r50_deaotl", expected_keys=net.state_dict())


def test_wrong_size_of_the_same_model_is_reported_by_shape(tmp_path):
    small, big = torch.nn.Linear(3, 2), torch.nn.Linear(5, 2)
    path = tmp_path / "w.pth"
    torch.save(small.state_dict(), path)
    with pytest.raises(BadInput, match="other shapes.*weight"):
        ck.load_into(big, path, "tiny")


def test_corrupt_or_truncated_file_is_bad_input_with_fetch_hint(tmp_path):
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save({"w": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(BadInput, match="not a readable.*fetch sam_vit_b"):
        ck.load_state_dict(path, "SAM vit_b", fetch_hint="inpainterz weights fetch sam_vit_b")
    path.write_bytes(b"<html>not a checkpoint</html>")
    with pytest.raises(BadInput, match="not a readable"):
        ck.load_state_dict(path, "SAM vit_b")


def test_pickled_objects_are_refused_not_executed(tmp_path):
    import argparse

    path = tmp_path / "trainer.pth"
    torch.save({"model": {"w": torch.zeros(2)}, "args": argparse.Namespace(lr=1)}, path)
    with pytest.raises(BadInput, match=r"Python objects besides tensors \(argparse.Namespace\)"):
        ck.load_state_dict(path, "SAM vit_b")


def test_load_into_strict_reports_missing_tensors(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    sd = net.state_dict()
    partial = {k: v for k, v in sd.items() if not k.startswith("2.")}
    path = tmp_path / "w.pth"
    torch.save(partial, path)
    with pytest.raises(BadInput, match="lacks 2 of the"):
        ck.load_into(net, path, "tiny", strict=True)
    ck.load_into(net, path, "tiny", strict=False)  # training-only gaps are allowed when asked
