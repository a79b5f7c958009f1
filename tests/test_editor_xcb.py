"""The editor on a Linux desktop without the xcb libraries Qt needs: a clear message and exit 2, not Qt's abort."""
from __future__ import annotations

import re

import pytest

from conftest import REPO
from inpainterz.app.cli import main
from inpainterz.editor import qt


def test_xcb_is_the_platform_only_with_a_display_and_no_other_platform_asked():
    assert qt.uses_xcb({"DISPLAY": ":0"}, "linux")
    assert qt.uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not qt.uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not qt.uses_xcb({}, "linux")
    assert not qt.uses_xcb({"DISPLAY": ":0"}, "darwin")
    assert qt.xcb_problem({"DISPLAY": ":0"}, "linux", loads=lambda so: True) is None
    assert qt.xcb_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", loads=lambda so: False) is None


@pytest.mark.parametrize("absent", [["libxcb-cursor.so.0"], ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0"]])
def test_missing_xcb_libraries_name_the_packages_and_exit_2(absent, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(qt, "_loads", lambda soname: soname not in absent)
    monkeypatch.setattr(qt.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert main(["edit", "--ckpt-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "could not load the Qt platform plugin" not in err
    [line] = [x.strip() for x in err.splitlines() if "apt-get install" in x]
    packages = line.split("apt-get install ", 1)[1].split()
    assert packages == sorted(qt.XCB_LIBRARIES[so] for so in absent)
    assert "--screenshot" in err


def test_the_readme_lists_every_xcb_package():
    readme = (REPO / "README.md").read_text()
    lines = [x for x in readme.splitlines() if re.search(r"apt-get install .*libxcb", x)]
    assert lines, "README has no apt-get line for the editor's xcb libraries"
    listed = set(lines[0].split("apt-get install", 1)[1].split())
    assert set(qt.XCB_LIBRARIES.values()) <= listed
