"""modelhub: manifest names and paths, sha256 verification, HTTPS fetch against a real local server."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from nodegraph import modelhub, models_cmd, paths
from nodegraph.modelhub import ModelError

REPO = Path(__file__).resolve().parent.parent
BUILTINS = ("blazeface_short", "blazeface_full", "facemesh")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test reads or writes the real user model folder."""
    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(tmp_path / "user"))
    monkeypatch.delenv("NODEGRAPH_MODELS", raising=False)
    monkeypatch.delenv("NODEGRAPH_MANIFEST", raising=False)


@pytest.fixture
def override(tmp_path, monkeypatch):
    folder = tmp_path / "override"
    folder.mkdir()
    monkeypatch.setenv("NODEGRAPH_MODELS", str(folder))
    return folder


def manifest_data() -> dict:
    return json.loads((REPO / "models" / "manifest.json").read_text())


def copy_builtin(name: str, folder: Path) -> Path:
    return Path(shutil.copy(REPO / "models" / f"{name}.onnx", folder / f"{name}.onnx"))


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def run_models_cmd(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="nodegraph")
    models_cmd.add_parser(parser.add_subparsers(dest="command"))
    return models_cmd.run(parser.parse_args(["models", *argv]))


# --- built-in models and verification ---------------------------------------------------------------

def test_committed_builtin_models_match_the_manifest():
    data = manifest_data()["models"]
    assert sorted(data) == sorted(BUILTINS)
    for name in BUILTINS:
        blob = (REPO / "models" / data[name]["file"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == data[name]["sha256"]
        assert len(blob) == data[name]["size"]
        assert data[name]["licence"] == "Apache-2.0"
    results = {r.name: r for r in modelhub.verify()}
    for name in BUILTINS:
        assert results[name].status == "ok", results[name].message
        assert results[name].path == REPO / "models" / f"{name}.onnx"
    assert run_models_cmd("verify") == 0


def test_user_models_listed_but_missing_do_not_fail_verify(capsys):
    results = {r.name: r for r in modelhub.verify()}
    assert results["inswapper_128"].status == "missing"
    assert not results["inswapper_128"].failed
    assert "nodegraph models fetch inswapper_128" in results["inswapper_128"].message
    assert run_models_cmd("list") == 0
    out = capsys.readouterr().out
    assert "inswapper_128" in out and "missing" in out and "blazeface_full" in out


def test_flipped_byte_is_refused_by_resolve_and_verify_with_one_message(override, capsys):
    bad = copy_builtin("facemesh", override)
    flip_byte(bad, bad.stat().st_size // 2)
    with pytest.raises(ModelError) as caught:
        modelhub.resolve("facemesh")
    message = str(caught.value)
    expected = manifest_data()["models"]["facemesh"]["sha256"]
    found = hashlib.sha256(bad.read_bytes()).hexdigest()
    assert str(bad) in message and expected in message and found in message
    assert "corrupt" in message and "Fix:" in message

    result = next(r for r in modelhub.verify() if r.name == "facemesh")
    assert result.status == "bad" and result.message == message
    assert run_models_cmd("verify") == 2
    assert message in capsys.readouterr().out

    with pytest.raises(ModelError) as by_path:
        modelhub.resolve(str(bad))
    assert str(by_path.value) == message


def test_truncated_file_names_both_sizes(override):
    short = copy_builtin("blazeface_short", override)
    full_size = short.stat().st_size
    with short.open("r+b") as f:
        f.truncate(full_size // 3)
    with pytest.raises(ModelError) as caught:
        modelhub.resolve("blazeface_short")
    message = str(caught.value)
    assert str(short) in message and f"{full_size // 3} bytes" in message and f"{full_size} bytes" in message
    assert "truncated" in message


def test_empty_file_is_refused(tmp_path):
    empty = tmp_path / "mine.dfm"
    empty.touch()
    with pytest.raises(ModelError, match="is empty"):
        modelhub.resolve(empty)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ModelError) as caught:
        modelhub.resolve("blazeface_tiny")
    message = str(caught.value)
    assert "unknown model 'blazeface_tiny'" in message
    for name in (*BUILTINS, "inswapper_128", "w600k_r50"):
        assert name in message
    assert run_models_cmd("verify", "blazeface_tiny") == 2


def test_missing_path_says_where_it_looked(tmp_path):
    with pytest.raises(ModelError) as caught:
        modelhub.resolve("sub/absent.onnx", base_dir=tmp_path)
    assert str(tmp_path / "sub" / "absent.onnx") in str(caught.value)


def test_paths_resolve_against_base_dir_and_model_folders(tmp_path, override):
    (tmp_path / "preset_dir").mkdir()
    mine = Path(shutil.copy(REPO / "models" / "blazeface_short.onnx", tmp_path / "preset_dir" / "mine.onnx"))
    assert modelhub.resolve("mine.onnx", base_dir=tmp_path / "preset_dir") == mine

    user = Path(os.environ["NODEGRAPH_USER_MODELS"])
    user.mkdir(parents=True)
    dropped = Path(shutil.copy(REPO / "models" / "facemesh.onnx", user / "swapper.dfm"))
    assert modelhub.resolve("swapper.dfm", base_dir=tmp_path) == dropped

    good = copy_builtin("blazeface_full", override)
    assert modelhub.resolve("blazeface_full") == good  # the override folder comes first


def test_hash_is_cached_per_path_mtime_and_size(override):
    model = copy_builtin("blazeface_short", override)
    modelhub.resolve("blazeface_short")
    stat = model.stat()
    flip_byte(model, 1000)
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same path, size and mtime: not re-hashed
    assert modelhub.resolve("blazeface_short") == model
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(ModelError, match="corrupt"):
        modelhub.resolve("blazeface_short")


def test_data_dir_finds_checkout_and_wheel_layouts(tmp_path, monkeypatch):
    assert paths.data_dir("models") == REPO / "models"
    assert paths.data_dir("presets") == REPO / "presets"
    wheel_package = tmp_path / "site-packages" / "nodegraph"
    (wheel_package / "_data" / "models").mkdir(parents=True)
    monkeypatch.setattr(paths, "_PACKAGE_DIR", wheel_package)
    assert paths.data_dir("models") == wheel_package / "_data" / "models"
    with pytest.raises(FileNotFoundError, match="'presets' folder is missing"):
        paths.data_dir("presets")


# --- fetch over HTTPS ------------------------------------------------------------------------------

PAYLOAD = (REPO / "models" / "blazeface_short.onnx").read_bytes()


class _Server:
    def __init__(self, folder: Path):
        key, self.cert = folder / "key.pem", folder / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-keyout", str(key), "-out", str(self.cert), "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        self.requests: list[tuple[str, str | None]] = []
        self.honour_range = True
        self.cut_after: int | None = None  # bytes sent before the connection drops mid-body
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                wanted = self.headers.get("Range")
                server.requests.append((self.path, wanted))
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{server.port}/model.onnx")
                    self.end_headers()
                    return
                start = int(wanted[len("bytes="):-1]) if wanted and server.honour_range else 0
                if start >= len(PAYLOAD):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
                self.send_header("Content-Length", str(len(PAYLOAD) - start))
                self.end_headers()
                if server.cut_after is not None:
                    self.wfile.write(PAYLOAD[start:start + server.cut_after])
                    self.close_connection = True
                    return
                self.wfile.write(PAYLOAD[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.cert, key)
        self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.client_context = ssl.create_default_context(cafile=str(self.cert))
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl binary is needed to make the test server's certificate")
    srv = _Server(tmp_path_factory.mktemp("https"))
    yield srv
    srv.close()


@pytest.fixture
def server(https_server, tmp_path, monkeypatch):
    srv = https_server
    srv.requests.clear()
    srv.honour_range = True
    srv.cut_after = None
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    base = f"https://127.0.0.1:{srv.port}"
    data = manifest_data()
    data["user_models"] = {
        "served": {"file": "served.onnx", "url": f"{base}/model.onnx", "sha256": digest, "size": len(PAYLOAD)},
        "wrong_hash": {"file": "wrong.onnx", "url": f"{base}/model.onnx", "sha256": "0" * 64},
        "no_hash": {"file": "nohash.onnx", "url": f"{base}/model.onnx", "sha256": None},
        "plain_http": {"file": "plain.onnx", "url": f"http://127.0.0.1:{srv.port}/model.onnx", "sha256": digest},
        "to_http": {"file": "to_http.onnx", "url": f"{base}/redirect", "sha256": digest},
        "offline": {"file": "offline.onnx", "url": f"https://127.0.0.1:{closed_port()}/model.onnx",
                    "sha256": digest, "size": len(PAYLOAD)},
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(data))
    monkeypatch.setenv("NODEGRAPH_MANIFEST", str(manifest))
    return srv


def user_folder() -> Path:
    return Path(os.environ["NODEGRAPH_USER_MODELS"])


def test_fetch_downloads_verifies_and_installs(server):
    path = modelhub.fetch("served", ssl_context=server.client_context)
    assert path == user_folder() / "served.onnx"
    assert path.read_bytes() == PAYLOAD
    assert not (user_folder() / "served.onnx.part").exists()
    assert modelhub.resolve("served") == path
    assert server.requests == [("/model.onnx", None)]
    modelhub.fetch("served", ssl_context=server.client_context)  # already there and good: no download
    assert len(server.requests) == 1


def test_fetch_resumes_a_partial_download_with_a_range_request(server):
    user_folder().mkdir(parents=True)
    half = len(PAYLOAD) // 2
    (user_folder() / "served.onnx.part").write_bytes(PAYLOAD[:half])
    path = modelhub.fetch("served", ssl_context=server.client_context)
    assert server.requests == [("/model.onnx", f"bytes={half}-")]
    assert path.read_bytes() == PAYLOAD


def test_a_dropped_connection_keeps_the_part_file_and_the_next_fetch_resumes(server):
    server.cut_after = 150_000
    with pytest.raises(ModelError, match="resumes on the next `nodegraph models fetch served`"):
        modelhub.fetch("served", ssl_context=server.client_context)
    part = user_folder() / "served.onnx.part"
    assert part.read_bytes() == PAYLOAD[:150_000]
    assert not (user_folder() / "served.onnx").exists()
    server.cut_after = None
    assert modelhub.fetch("served", ssl_context=server.client_context).read_bytes() == PAYLOAD
    assert server.requests == [("/model.onnx", None), ("/model.onnx", "bytes=150000-")]
    assert not part.exists()


def test_fetch_starts_over_when_the_server_ignores_range(server):
    server.honour_range = False
    user_folder().mkdir(parents=True)
    (user_folder() / "served.onnx.part").write_bytes(b"x" * 1000)
    assert modelhub.fetch("served", ssl_context=server.client_context).read_bytes() == PAYLOAD


def test_hash_mismatch_leaves_no_file_under_the_final_name(server):
    with pytest.raises(ModelError) as caught:
        modelhub.fetch("wrong_hash", ssl_context=server.client_context)
    assert "0" * 64 in str(caught.value) and hashlib.sha256(PAYLOAD).hexdigest() in str(caught.value)
    assert not (user_folder() / "wrong.onnx").exists()
    assert not (user_folder() / "wrong.onnx.part").exists()


def test_a_complete_but_corrupt_part_file_is_discarded(server):
    user_folder().mkdir(parents=True)
    bad = bytearray(PAYLOAD)
    bad[10] ^= 0xFF
    (user_folder() / "served.onnx.part").write_bytes(bytes(bad))
    with pytest.raises(ModelError, match="not the expected file"):
        modelhub.fetch("served", ssl_context=server.client_context)
    assert server.requests == [("/model.onnx", f"bytes={len(PAYLOAD)}-")]
    assert not (user_folder() / "served.onnx").exists()
    assert not (user_folder() / "served.onnx.part").exists()
    assert modelhub.fetch("served", ssl_context=server.client_context).read_bytes() == PAYLOAD


def test_http_urls_and_redirects_to_http_are_refused(server):
    with pytest.raises(ModelError, match="only https:// URLs are allowed"):
        modelhub.fetch("plain_http", ssl_context=server.client_context)
    assert server.requests == []
    with pytest.raises(ModelError, match="refusing to follow a redirect"):
        modelhub.fetch("to_http", ssl_context=server.client_context)
    assert not (user_folder() / "to_http.onnx").exists()


def test_untrusted_certificate_is_refused(server):
    with pytest.raises(ModelError, match="CERTIFICATE_VERIFY_FAILED"):
        modelhub.fetch("served", ssl_context=ssl.create_default_context())
    assert not (user_folder() / "served.onnx").exists()


def test_offline_fetch_fails_fast_and_says_how_to_place_the_file(server, capsys):
    start = time.monotonic()
    with pytest.raises(ModelError) as caught:
        modelhub.fetch("offline", ssl_context=server.client_context)
    assert time.monotonic() - start < 5
    message = str(caught.value)
    assert "offline" in message and f"place it by hand at {user_folder() / 'offline.onnx'}" in message
    assert hashlib.sha256(PAYLOAD).hexdigest() in message
    assert run_models_cmd("fetch", "offline") == 2
    err = capsys.readouterr().err
    assert "place it by hand" in err and err.startswith("nodegraph: ")  # as every other error of the command


def test_unverifiable_and_builtin_fetches_are_refused(server):
    with pytest.raises(ModelError, match="--allow-unverified"):
        modelhub.fetch("no_hash", ssl_context=server.client_context)
    assert server.requests == []
    path = modelhub.fetch("no_hash", allow_unverified=True, ssl_context=server.client_context)
    assert path.read_bytes() == PAYLOAD
    assert next(r for r in modelhub.verify("no_hash")).status == "no hash"
    with pytest.raises(ModelError, match="built-in model"):
        modelhub.fetch("facemesh")


def test_models_fetch_command_trusts_ssl_cert_file(server, monkeypatch, capsys):
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
    assert run_models_cmd("fetch", "served") == 0
    assert "(verified)" in capsys.readouterr().out
    assert (user_folder() / "served.onnx").read_bytes() == PAYLOAD


def test_a_model_whose_size_is_not_pinned_is_checked_by_its_sha256_alone(tmp_path, monkeypatch):
    good = b"the real weights"
    data = manifest_data()
    data["user_models"] = {"unsized": {"file": "unsized.onnx", "sha256": hashlib.sha256(good).hexdigest()}}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(data))
    monkeypatch.setenv("NODEGRAPH_MANIFEST", str(manifest))
    placed = paths.user_models_dir() / "unsized.onnx"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"some other file")
    with pytest.raises(ModelError, match=r"is corrupt: .* bytes \(the manifest pins no size, only the sha256\)"):
        modelhub.resolve("unsized")
    placed.write_bytes(good)
    assert modelhub.resolve("unsized") == placed


# --- fetch never writes through, nor installs, what is not a regular file of its own ---------------------

def test_a_symlinked_part_file_is_removed_not_written_through(server, tmp_path, caplog):
    user_folder().mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"the user's notes")
    part = user_folder() / "served.onnx.part"
    part.symlink_to(victim)
    with caplog.at_level("INFO", logger="nodegraph"):
        path = modelhub.fetch("served", ssl_context=server.client_context)
    assert victim.read_bytes() == b"the user's notes"
    assert not path.is_symlink() and path.read_bytes() == PAYLOAD
    assert server.requests == [("/model.onnx", None)]  # afresh: the link's target was no partial download
    assert f"{part} was not a regular file" in caplog.text


def test_a_dangling_symlinked_part_file_creates_nothing_at_its_target(server, tmp_path):
    user_folder().mkdir(parents=True)
    (user_folder() / "served.onnx.part").symlink_to(tmp_path / "planted.onnx")
    assert modelhub.fetch("served", ssl_context=server.client_context).read_bytes() == PAYLOAD
    assert not (tmp_path / "planted.onnx").exists()
    assert not (user_folder() / "served.onnx").is_symlink()


def test_a_pipe_at_the_part_path_is_replaced_by_a_fresh_download(server):
    user_folder().mkdir(parents=True)
    os.mkfifo(user_folder() / "served.onnx.part")
    assert modelhub.fetch("served", ssl_context=server.client_context).read_bytes() == PAYLOAD


def test_a_folder_at_the_part_path_is_refused_and_kept(server):
    folder = user_folder() / "served.onnx.part"
    folder.mkdir(parents=True)
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(ModelError, match=r"served.onnx.part is in the way .* move it away"):
        modelhub.fetch("served", ssl_context=server.client_context)
    assert (folder / "keep.txt").read_text() == "mine"
    assert server.requests == [] and not (user_folder() / "served.onnx").exists()


# --- fetch keeps a user's own file of the catalogue's name -----------------------------------------------

def test_a_users_own_file_of_the_same_name_is_kept_beside_the_verified_download(server, caplog):
    user_folder().mkdir(parents=True)
    mine = user_folder() / "served.onnx"
    mine.write_bytes(b"my fine-tuned weights")
    (user_folder() / "served.replaced-1.onnx").write_bytes(b"kept by an earlier fetch")
    with caplog.at_level("WARNING", logger="nodegraph"):
        path = modelhub.fetch("served", ssl_context=server.client_context)
    assert path == mine and mine.read_bytes() == PAYLOAD
    assert (user_folder() / "served.replaced-1.onnx").read_bytes() == b"kept by an earlier fetch"
    kept = user_folder() / "served.replaced-2.onnx"
    assert kept.read_bytes() == b"my fine-tuned weights"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(mine) in warnings[0] and str(kept) in warnings[0]


def test_a_users_file_stays_in_place_when_the_download_is_refused(server):
    user_folder().mkdir(parents=True)
    mine = user_folder() / "wrong.onnx"
    mine.write_bytes(b"my fine-tuned weights")
    with pytest.raises(ModelError, match="not the expected file"):
        modelhub.fetch("wrong_hash", ssl_context=server.client_context)
    assert mine.read_bytes() == b"my fine-tuned weights"
    assert sorted(p.name for p in user_folder().iterdir()) == ["wrong.onnx"]


def test_a_symlink_at_the_models_name_is_kept_as_a_link_and_its_target_untouched(server, tmp_path):
    user_folder().mkdir(parents=True)
    target = tmp_path / "elsewhere.onnx"
    target.write_bytes(b"another model")
    (user_folder() / "served.onnx").symlink_to(target)
    path = modelhub.fetch("served", ssl_context=server.client_context)
    assert not path.is_symlink() and path.read_bytes() == PAYLOAD
    kept = user_folder() / "served.replaced-1.onnx"
    assert kept.is_symlink() and os.readlink(kept) == str(target)
    assert target.read_bytes() == b"another model"
