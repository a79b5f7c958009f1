"""`inpainterz weights fetch` against a local HTTP server: progress, resume, verification."""
import errno
import hashlib
import http.server
import io
import json
import os
import threading

import pytest

from inpainterz.app.progress import TransferProgress
from inpainterz.engine import checkpoints as ck
from inpainterz.engine.checkpoints import download as fetch_module
from inpainterz.engine.checkpoints import manifest as manifest_module
from inpainterz.app.cli import main as cli_main

PAYLOAD = bytes(range(256)) * 10_000  # 2.56 MB: more than one read block
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    """Serves PAYLOAD at /w.pth with Range support; can cut a response short or send a web page."""

    def __init__(self):
        self.requests = []
        self.cut_next_at = None  # bytes to send before dropping the connection, once
        self.body = PAYLOAD
        self.html = False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if not self.path.endswith("w.pth"):
                    self.send_error(404, "Not Found")
                    return
                body, status, start = server.body, 200, 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.end_headers()
                        return
                    status = 206
                part = body[start:]
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if server.html else "application/octet-stream")
                self.send_header("Content-Length", str(len(part)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if server.cut_next_at is not None:
                    n, server.cut_next_at = server.cut_next_at, None
                    self.wfile.write(part[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.handle_error = lambda request, address: None  # a cut connection is the point
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def manifest(tmp_path, monkeypatch, server, isolated_checkpoints):
    """A manifest with one test entry served by the local server."""
    doc = {"format": "inpainterz-weights", "version": 1, "checkpoints": [
        {"name": "tiny", "file": "w.pth", "url": server.base + "/official/w.pth", "size": len(PAYLOAD),
         "sha256": SHA, "licence": "Apache-2.0", "node": "Test", "model": "tiny", "default": True},
        {"name": "gone", "file": "gone.pth", "url": server.base + "/gone.pth", "size": 10,
         "sha256": None, "licence": "Apache-2.0", "node": "Test", "model": "gone"},
    ]}
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setattr(manifest_module, "MANIFEST_PATH", path)
    return path


def _progress():
    return TransferProgress(stream=io.StringIO(), tty=False, every=0.0)


def test_fetch_downloads_verifies_and_installs(tmp_path, manifest, server):
    dest = tmp_path / "ckpt"
    prog = _progress()
    [path] = ck.fetch("tiny", dest=dest, progress=prog)
    assert path == dest / "w.pth" and path.read_bytes() == PAYLOAD
    assert not (dest / "w.pth.part").exists()
    log = prog.stream.getvalue()
    assert "w.pth: downloading (2.6 MB)" in log and "installed" in log and "sha256 checked" in log
    assert ck.find_checkpoint("tiny", dest) == path
    # A second fetch finds the good copy and downloads nothing.
    n = len(server.requests)
    ck.fetch("tiny", dest=dest, progress=_progress())
    assert len(server.requests) == n
    [st] = ck.status(ck.select("tiny"))
    assert st.state == "verified" or st.path is None  # the default search folders may not hold dest


def test_progress_bar_on_a_terminal_and_lines_otherwise():
    bar = TransferProgress(stream=io.StringIO(), tty=True)
    bar.start("w.pth", 100)
    bar._last = -1.0
    bar.update(50)
    bar.finish()
    assert "\r" in bar.stream.getvalue() and "[###############" in bar.stream.getvalue()
    plain = TransferProgress(stream=io.StringIO(), tty=False, every=0.0)
    plain.start("w.pth", 100)
    plain.update(50)
    plain.finish()
    out = plain.stream.getvalue()
    assert "\r" not in out and " 50.0%" in out


def test_an_interrupted_download_resumes_with_a_range_request(tmp_path, manifest, server):
    dest = tmp_path / "ckpt"
    server.cut_next_at = 300_000
    with pytest.raises(ck.FetchError, match="run the same command again to resume"):
        ck.fetch("tiny", dest=dest, progress=_progress())
    part = dest / "w.pth.part"
    assert part.stat().st_size == 300_000
    assert not (dest / "w.pth").exists()
    ck.fetch("tiny", dest=dest, progress=_progress())
    assert (dest / "w.pth").read_bytes() == PAYLOAD
    assert server.requests[-1][1] == "bytes=300000-"
    assert not part.exists()


def test_a_sha256_mismatch_is_refused_and_nothing_is_committed(tmp_path, manifest, server):
    dest = tmp_path / "ckpt"
    dest.mkdir()
    server.body = PAYLOAD[:-1] + b"\x00"
    with pytest.raises(ck.FetchError, match="sha256 mismatch.*nothing was installed"):
        ck.fetch("tiny", dest=dest, progress=_progress())
    assert not (dest / "w.pth").exists() and not (dest / "w.pth.part").exists()


def test_a_bad_download_keeps_the_good_file_already_there(tmp_path, manifest, server):
    dest = tmp_path / "ckpt"
    ck.fetch("tiny", dest=dest, progress=_progress())
    server.body = b"y" * len(PAYLOAD)
    with pytest.raises(ck.FetchError, match="sha256 mismatch"):
        ck.fetch("tiny", dest=dest, progress=_progress(), force=True)
    assert (dest / "w.pth").read_bytes() == PAYLOAD


def test_http_errors_and_web_pages_are_clear(tmp_path, manifest, server):
    with pytest.raises(ck.FetchError, match="HTTP 404"):
        ck.fetch("gone", dest=tmp_path / "ckpt", progress=_progress())
    server.html = True
    with pytest.raises(ck.FetchError, match="sent a web page instead of the file"):
        ck.fetch("tiny", dest=tmp_path / "ckpt", progress=_progress())


def test_disk_full_keeps_the_partial_download(tmp_path, manifest, server, monkeypatch):
    calls = {"n": 0}
    real = fetch_module._append

    def full_after_one_block(out, block):
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(out, block)

    monkeypatch.setattr(fetch_module, "_append", full_after_one_block)
    dest = tmp_path / "ckpt"
    with pytest.raises(ck.FetchError, match="disk full.*resumes"):
        ck.fetch("tiny", dest=dest, progress=_progress())
    assert 0 < (dest / "w.pth.part").stat().st_size < len(PAYLOAD)
    monkeypatch.setattr(fetch_module, "_append", real)
    ck.fetch("tiny", dest=dest, progress=_progress())
    assert (dest / "w.pth").read_bytes() == PAYLOAD


def _weights(capsys, *args) -> tuple[int, str, str]:
    """`inpainterz weights ARGS...` through the one CLI parser, in this process."""
    code = cli_main(["weights", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_fetch_from_a_mirror_then_list_and_verify(tmp_path, manifest, server, capsys):
    dest = tmp_path / "ckpt"
    code, _, err = _weights(capsys, "fetch", "tiny", "--mirror", server.base + "/mirror", "--ckpt-dir", dest)
    assert code == 0, err
    assert server.requests[-1][0] == "/mirror/w.pth" and (dest / "w.pth").read_bytes() == PAYLOAD
    code, out, _ = _weights(capsys, "list", "--ckpt-dir", dest, "--json")
    assert code == 0
    listed = json.loads(out)
    assert listed["dirs"][0] == str(dest.resolve())
    states = {c["name"]: c["state"] for c in listed["checkpoints"]}
    assert states == {"tiny": "verified", "gone": "missing"}
    code, out, _ = _weights(capsys, "list", "--ckpt-dir", dest)
    assert code == 0 and "tiny *" in out and "verified" in out and "gone" in out
    code, out, _ = _weights(capsys, "verify", "--ckpt-dir", dest)
    assert code == 0 and "w.pth: verified (sha256)" in out
    code, out, _ = _weights(capsys, "verify", "tiny", "--ckpt-dir", dest, "--json")
    assert code == 0 and [c["state"] for c in json.loads(out)["checkpoints"]] == ["verified"]
    code, out, _ = _weights(capsys, "verify", "gone", "--ckpt-dir", dest)
    assert code == 1 and "gone.pth: missing" in out
    (dest / "w.pth").write_bytes(b"z" * len(PAYLOAD))
    os.utime(dest / "w.pth", ns=(1, 1))
    code, out, _ = _weights(capsys, "verify", "--ckpt-dir", dest)
    assert code == 1 and "sha256 mismatch" in out


def test_cli_fetch_force_downloads_again_and_defaults_to_the_default_set(tmp_path, manifest, server, capsys):
    dest = tmp_path / "ckpt"
    code, _, err = _weights(capsys, "fetch", "--ckpt-dir", dest, "--mirror", server.base + "/official")
    assert code == 0, err  # no name: the default set, which is "tiny" here
    n = len(server.requests)
    code, _, err = _weights(capsys, "fetch", "tiny", "--ckpt-dir", dest, "--mirror", server.base + "/official")
    assert code == 0 and len(server.requests) == n and "already present" in err
    code, _, err = _weights(capsys, "fetch", "tiny", "--ckpt-dir", dest, "--force",
                            "--mirror", server.base + "/official")
    assert code == 0 and len(server.requests) == n + 1, err


def test_cli_fetch_env_url_and_bad_name(tmp_path, manifest, server, monkeypatch, capsys):
    monkeypatch.setenv(ck.WEIGHTS_URL_ENV, server.base + "/env")
    code, _, err = _weights(capsys, "fetch", "tiny", "--ckpt-dir", tmp_path / "d")
    assert code == 0, err
    assert server.requests[-1][0] == "/env/w.pth"
    code, _, err = _weights(capsys, "fetch", "nope")
    assert code == 2 and "no checkpoint named 'nope'" in err


@pytest.mark.parametrize("argv", [["weights"], ["weights", "fetch", "--dest", "x"], ["weights", "list", "--force"],
                                  ["weights", "frob"]])
def test_the_weights_parser_refuses_what_it_does_not_offer(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(argv)
    assert exc.value.code == 2
