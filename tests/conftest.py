import contextlib
import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("INPAINTERZ_SHARED", REPO.parent / "shared"))
# The module behind the `inpainterz` command; tests start it with the interpreter running them.
CLI_MODULE = "inpainterz.app.cli"


def cli_command(*args) -> list[str]:
    """argv that runs `inpainterz ARGS...` in a child process of this interpreter."""
    return [sys.executable, "-m", CLI_MODULE, *map(str, args)]


def shared_path(*parts) -> Path:
    """A file under ../shared, or skip the test with the reason."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is not here (the shared media/parity kit lives beside the repository)")
    return p


@pytest.fixture
def test_log(tmp_path, monkeypatch):
    """Path of the render log the counting nodes append to; read it with `renders()`."""
    log = tmp_path / "renders.log"
    monkeypatch.setenv("INPAINTERZ_TEST_LOG", str(log))
    return log


def read_log(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def renders(log: Path) -> list[str]:
    return [r["node"] for r in read_log(log)]


@pytest.fixture
def counting_registry(monkeypatch):
    """The default registry plus the counting test nodes, loaded as a plugin folder."""
    from inpainterz.engine import registry

    monkeypatch.setenv("INPAINTERZ_PLUGIN_PATH", str(HERE / "plugins"))
    reg = registry.default_registry(reload=True)
    yield reg
    monkeypatch.delenv("INPAINTERZ_PLUGIN_PATH")
    registry.default_registry(reload=True)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run torch with `n` CPU threads inside the block."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def node_context(tmp_path: Path, type_id: str, node_id: str = "n", manager=None):
    """The engine's render context for calling a node's render directly, with its own model manager."""
    from inpainterz.engine.config import RunConfig
    from inpainterz.engine.executor import Context, NodeReport
    from inpainterz.engine.models import ModelManager

    config = RunConfig(models=manager or ModelManager(budget=10**10))
    return Context(node_id, type_id, "cpu", tmp_path / "work", lambda ev: None, config, NodeReport(node_id, type_id))


@pytest.fixture(autouse=True)
def user_data_home(tmp_path_factory, monkeypatch):
    """The user's data folder (where checkpoints are fetched by default) is a fresh one per test."""
    home = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


@pytest.fixture
def isolated_checkpoints(monkeypatch, tmp_path):
    """Checkpoint search sees only folders the test makes: no env, no mirror, cwd in tmp, a fresh user folder."""
    from inpainterz.engine import checkpoints as ck

    for var in (ck.CKPT_ENV, ck.WEIGHTS_URL_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def sam_checkpoint(tmp_path_factory):
    """A random ViT-B SAM saved like the published file: a bare state_dict."""
    import torch
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    net = sam_model_registry["vit_b"]()
    path = tmp_path_factory.mktemp("ckpt") / "sam_vit_b_01ec64.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def deaot_checkpoint(tmp_path_factory):
    """A random R50-DeAOT-L saved the way the published file is: {"state_dict": ...}."""
    import torch

    from inpainterz.nodes.track import build_deaot

    path = tmp_path_factory.mktemp("ckpt") / "R50_DeAOTL_PRE_YTB_DAV.pth"
    torch.save({"state_dict": build_deaot("r50_deaotl").state_dict()}, path)
    return path
