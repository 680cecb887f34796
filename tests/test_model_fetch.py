"""`nodegraph models fetch` against a real local HTTPS server: download, resume, verification, refusals, and
never writing through or over what is not its own."""

from __future__ import annotations

import hashlib
import os
import ssl
import time

import pytest
from conftest import run_cli
from model_server import PAYLOAD, run_models_cmd, user_folder

from nodegraph import modelhub
from nodegraph.modelhub import ModelError

pytestmark = pytest.mark.usefixtures("isolated_models")


def test_fetch_downloads_verifies_and_installs(server):
    path = modelhub.fetch("served", ssl_context=server.client_context)
    assert path == user_folder() / "served.onnx"
    assert path.read_bytes() == PAYLOAD
    assert not (user_folder() / "served.onnx.part").exists()
    assert modelhub.resolve("served") == path
    assert server.requests == [("/model.onnx", None)]
    modelhub.fetch("served", ssl_context=server.client_context)  # already there and good: no download
    assert len(server.requests) == 1


def test_a_fetched_model_is_not_hashed_again_when_it_is_next_resolved(server, monkeypatch):
    # the editor checks its graph on its UI thread once a fetch lands: it hashed the model the fetch had just
    # verified again, about 1 s for a 400 MB swapper, the window frozen meanwhile
    hashed = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(modelhub.hashlib, "sha256", lambda *a: hashed.append(a) or real_sha256(*a))
    path = modelhub.fetch("served", ssl_context=server.client_context)
    assert len(hashed) == 1  # the download's check
    assert modelhub.resolve("served") == path
    assert len(hashed) == 1, "the verified download was hashed again"
    os.utime(path, ns=(0, 0))  # touched since: checked again
    assert modelhub.resolve("served") == path
    assert len(hashed) == 2


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


def test_a_redirect_loop_is_said_in_one_line(server):
    # urllib's reason for it is three lines, the last "Found", run into the message's next sentence
    with pytest.raises(ModelError) as caught:
        modelhub.fetch("loop", ssl_context=server.client_context)
    message = str(caught.value)
    assert "\n" not in message and "HTTP 302 The HTTP server returned a redirect error that would lead to an " \
                                   "infinite loop. download" in message
    assert not any(user_folder().iterdir())


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


def test_a_web_page_served_in_place_of_the_model_is_never_installed(server):
    # a model without a known sha256 was installed as whatever came, a rate limit's page too, and `verify` said ok
    for name in ("page", "page_hashed"):
        with pytest.raises(ModelError) as caught:
            modelhub.fetch(name, allow_unverified=True, ssl_context=server.client_context)
        message = str(caught.value)
        assert "the server sent a web page or other text (it begins '<!DOCTYPE html>'), not the model" in message
        assert "nothing was installed" in message
        assert sorted(p.name for p in user_folder().iterdir()) == []
        assert next(r for r in modelhub.verify(name)).status == "missing"


def test_models_fetch_command_trusts_ssl_cert_file(server, monkeypatch, capsys):
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
    assert run_models_cmd("fetch", "served") == 0
    assert "(verified)" in capsys.readouterr().out
    assert (user_folder() / "served.onnx").read_bytes() == PAYLOAD


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


def test_a_folder_at_the_models_name_is_refused_before_downloading(server):
    # the whole model was downloaded, then os.replace raised IsADirectoryError: a traceback, and a stray .part
    folder = user_folder() / "served.onnx"
    folder.mkdir(parents=True)
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(ModelError, match=f"^{folder} is a folder, where the model 'served' goes; move it away"):
        modelhub.fetch("served", ssl_context=server.client_context)
    assert (folder / "keep.txt").read_text() == "mine"
    assert server.requests == [] and sorted(p.name for p in user_folder().iterdir()) == ["served.onnx"]


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


@pytest.mark.parametrize("setting", ["NODEGRAPH_MODELS", "NODEGRAPH_USER_MODELS", "XDG_DATA_HOME"])
def test_a_model_folder_setting_that_names_a_file_is_a_clear_error(server, tmp_path, monkeypatch, capsys, setting):
    # a traceback from mkdir, naming neither the setting nor what to do
    a_file = tmp_path / "not_a_folder"
    a_file.write_text("mine")
    for name in ("NODEGRAPH_MODELS", "NODEGRAPH_USER_MODELS", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(setting, str(a_file))
    assert run_models_cmd("fetch", "served") == 2
    said = capsys.readouterr().err
    assert f"cannot make the model folder {a_file}" in said and f"(chosen by {setting}={a_file})" in said, said
    assert f"point {setting} at a folder you can write" in said
    assert a_file.read_text() == "mine" and server.requests == []


@pytest.mark.parametrize("setting, command", [("NODEGRAPH_MODELS", ("fetch", "xseg_1")),
                                              ("NODEGRAPH_USER_MODELS", ("verify",)),
                                              ("NODEGRAPH_MANIFEST", ("list",))])
def test_a_setting_with_a_home_that_does_not_exist_is_a_clear_error(setting, command):
    # Path.expanduser raised "Could not determine home directory": a traceback
    result = run_cli("models", *command, env={setting: "~nobody-here-at-all/models"})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{setting}=~nobody-here-at-all/models: there is no home folder for ~nobody-here-at-all; give a " \
           "full path" in result.stderr
