"""`nodegraph models fetch` bounded as a user needs it, against a real local HTTPS server: in time (a stall),
in size (a server that sends on), in disk room and write access, in progress lines, and one download of a
model at a time (see test_model_fetch.py for resuming, verifying and refusing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import repo_env
from model_server import PAYLOAD, user_folder

from nodegraph import model_download, modelhub
from nodegraph.modelhub import ModelError

pytestmark = pytest.mark.usefixtures("isolated_models")


def test_progress_is_told_once_a_mebibyte_and_at_the_end(server):
    # each read gives what has arrived (a TLS record of 16 kB): telling each one printed 35,000 lines for 554 MB
    told = []
    modelhub.fetch("served", ssl_context=server.client_context, progress=lambda done, total: told.append(done))
    assert told == [len(PAYLOAD)]


@pytest.mark.parametrize("send_length", [True, False])
def test_a_download_larger_than_the_manifest_says_is_stopped_and_deleted(server, send_length):
    # a server that sent on without a Content-Length filled the disk: 1.2 GB in 5 s for a 426 kB model
    server.extra, server.send_length = 64 << 20, send_length
    with pytest.raises(ModelError) as caught:
        modelhub.fetch("served", ssl_context=server.client_context)
    said = str(caught.value)
    if send_length:
        assert f"the server is sending {len(PAYLOAD) + (64 << 20)} bytes, expected {len(PAYLOAD)}" in said, said
    else:
        assert f"the server sent more than the expected {len(PAYLOAD)} bytes" in said, said
    assert "It was deleted and nothing was installed" in said
    assert list(user_folder().iterdir()) == []
    time.sleep(0.5)  # the server's last write fails once the client has closed the connection
    assert server.sent < 16 << 20


def test_two_fetches_of_one_model_at_once_both_end_with_the_verified_file(server):
    # the second to finish found its .part renamed away by the first: a FileNotFoundError traceback
    server.pause_s = 0.5  # 7 blocks: 3.5 s of download, for the second to start within
    env = {"SSL_CERT_FILE": str(server.cert)}
    command = [sys.executable, "-m", "nodegraph.cli", "models", "fetch", "served"]
    first = subprocess.Popen(command, env=repo_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = user_folder() / "served.onnx.part"
    deadline = time.monotonic() + 60
    while not part.exists():  # the first has its answer and is downloading
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.01)
    second = subprocess.Popen(command, env=repo_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for fetch in (first, second):
        out, err = fetch.communicate(timeout=60)
        assert fetch.returncode == 0 and "Traceback" not in err, err
        assert "(verified)" in out
    assert f"another nodegraph is downloading it into {part}; waiting for it" in err
    assert (user_folder() / "served.onnx").read_bytes() == PAYLOAD
    assert sorted(p.name for p in user_folder().iterdir()) == ["served.onnx"]
    assert len(server.requests) == 1  # the second waited for the first, then found its file good


def test_a_stalled_download_ends_at_the_read_timeout_keeping_what_arrived(server, monkeypatch):
    # the bytes that came before the stall sat in a 1 MiB read and were lost: a 0-byte .part, said to resume
    monkeypatch.setattr(model_download, "READ_TIMEOUT_S", 1.0)
    server.stall_after = 3 << 16
    started = time.monotonic()
    with pytest.raises(ModelError, match="timed out.*resumes on the next `nodegraph models fetch served`"):
        modelhub.fetch("served", ssl_context=server.client_context)
    assert time.monotonic() - started < 4
    assert (user_folder() / "served.onnx.part").read_bytes() == PAYLOAD[:3 << 16]
    server.stall_after = None
    assert modelhub.fetch("served", ssl_context=server.client_context).read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/model.onnx", f"bytes={3 << 16}-")


def test_a_trickling_download_ends_keeping_what_arrived(server, monkeypatch):
    # a byte now and then, each within the read timeout, kept `models fetch` going for ever
    monkeypatch.setattr(model_download, "SLOW_WINDOW_S", 1.0)
    monkeypatch.setattr(model_download, "SLOW_MIN_BYTES", 4096)
    server.block, server.pause_s = 100, 0.1  # 1 kB/s
    started = time.monotonic()
    with pytest.raises(ModelError, match=r"only \d+ bytes came in the last 1 s.*resumes on the next"):
        modelhub.fetch("served", ssl_context=server.client_context)
    assert time.monotonic() - started < 4
    kept = (user_folder() / "served.onnx.part").read_bytes()
    assert 500 <= len(kept) < 4096 and kept == PAYLOAD[:len(kept)]
    server.block, server.pause_s = 1 << 16, 0.0
    assert modelhub.fetch("served", ssl_context=server.client_context).read_bytes() == PAYLOAD

def test_a_garbled_content_length_is_read_as_none(server):
    server.send_length = "lots"  # int() of it was a ValueError traceback
    assert modelhub.fetch("served", ssl_context=server.client_context).read_bytes() == PAYLOAD


def test_a_model_folder_without_room_is_said_before_downloading(server, small_disk, monkeypatch):
    # it downloaded until the disk was full, then said "could not download ... If this machine is offline"
    folder = small_disk("small", "200k")
    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(folder))
    with pytest.raises(ModelError) as caught:
        modelhub.fetch("served", ssl_context=server.client_context)
    said = str(caught.value)
    assert f"no room for 'served' in {folder}: it needs {len(PAYLOAD)} bytes, " in said, said
    assert said.endswith("free some space there, or point NODEGRAPH_USER_MODELS at a folder with room."), said
    assert "offline" not in said and list(folder.iterdir()) == []
    server.send_length = False  # nothing says the size before the disk fills
    with pytest.raises(ModelError, match=f"no room for 'no_hash' in {folder}: No space left on device; free some "
                                         "space there, .* with room. The partial download in .* resumes on the next"):
        modelhub.fetch("no_hash", allow_unverified=True, ssl_context=server.client_context)


def test_a_read_only_model_folder_names_the_setting_that_chose_it(server, small_disk, monkeypatch):
    folder = small_disk("read_only", "1m", read_only=True)
    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(folder))
    with pytest.raises(ModelError) as caught:
        modelhub.fetch("served", ssl_context=server.client_context)
    assert f"cannot write the download of 'served' to {folder / 'served.onnx.part'}: Read-only file system; " \
           "point NODEGRAPH_USER_MODELS at a folder you can write" in str(caught.value), str(caught.value)
    assert server.requests == []


def test_a_part_file_this_user_may_not_write_is_named_not_taken_for_the_network(server):
    # another user's .part in a shared folder: "could not download ... (Permission denied). If this machine is offline"
    part = user_folder() / "served.onnx.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:1000])
    part.chmod(0o444)
    as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    if as_user and shutil.which("setpriv") is None:
        pytest.skip("root reads and writes every file; setpriv is needed to drop that")
    command = [*as_user, sys.executable, "-m", "nodegraph.cli", "models", "fetch", "served"]
    result = subprocess.run(command, env=repo_env({"SSL_CERT_FILE": str(server.cert)}), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"cannot write the download of 'served' to {part}: Permission denied; remove it or make it writable, " \
           "or point NODEGRAPH_USER_MODELS at a folder you can write" in result.stderr, result.stderr
    assert "offline" not in result.stderr and part.read_bytes() == PAYLOAD[:1000] and server.requests == []
