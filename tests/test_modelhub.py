"""modelhub: manifest names and paths, sha256 verification and its cache, where models are looked for
(`models fetch` is in test_model_fetch.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import repo_env
from model_server import REPO, manifest_data, run_models_cmd

from nodegraph import modelhub, paths, preset
from nodegraph.modelhub import ModelError
from nodegraph.registry import default_registry

pytestmark = pytest.mark.usefixtures("isolated_models")
BUILTINS = ("blazeface_short", "blazeface_full", "facemesh")


@pytest.fixture
def override(tmp_path, monkeypatch):
    folder = tmp_path / "override"
    folder.mkdir()
    monkeypatch.setenv("NODEGRAPH_MODELS", str(folder))
    return folder


def copy_builtin(name: str, folder: Path) -> Path:
    return Path(shutil.copy(REPO / "models" / f"{name}.onnx", folder / f"{name}.onnx"))


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


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


def test_verify_says_the_user_models_not_installed_in_one_line(capsys):
    # each had a paragraph of its own ("missing  xseg_2: ... is not installed (looked in ...); fetch it with ..."):
    # 27 of them buried the three lines that checked something
    assert run_models_cmd("verify") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [f"ok       {name}" for name in BUILTINS]
    user = [r.name for r in modelhub.verify() if r.kind == "user"]
    assert len(user) > 20 and "inswapper_128" in user
    assert lines[-1] == (f"not installed, so not checked: {len(user)} user models ({', '.join(user)}); "
                         "`nodegraph models list` gives their sizes, `nodegraph models fetch NAME` fetches one into "
                         f"{paths.fetch_dir()}")


def test_list_and_verify_say_a_stopped_download_resumes(capsys):
    # the .part a stopped fetch keeps was in neither: a user saw "missing" and did not know 200 MB were there
    paths.fetch_dir().mkdir(parents=True, exist_ok=True)
    (paths.fetch_dir() / "inswapper_128.onnx.part").write_bytes(bytes(1500))
    assert run_models_cmd("list") == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("inswapper_128 "))
    assert "missing, 1.5 kB downloaded (fetch resumes)" in row
    assert run_models_cmd("verify", "inswapper_128") == 0
    assert (f"1.5 kB of it is downloaded in {paths.fetch_dir() / 'inswapper_128.onnx.part'}, and "
            "`nodegraph models fetch inswapper_128` resumes from there") in capsys.readouterr().out

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


def test_a_users_own_model_under_a_catalogue_name_is_not_only_told_to_be_deleted(tmp_path):
    # "is corrupt ... Fix: delete it and fetch it again": for a fine-tuned model of the user's, a loss
    mine = tmp_path / "inswapper_128.onnx"
    mine.write_bytes((REPO / "models" / "blazeface_short.onnx").read_bytes())
    with pytest.raises(ModelError) as caught:
        modelhub.resolve(str(mine))
    assert str(caught.value).endswith("; if it is deliberately another model (your own), keep it under another file "
                                      "name: inswapper_128.onnx is the catalogue's name, checked by its sha256")


def test_empty_file_is_refused(tmp_path):
    empty = tmp_path / "mine.dfm"
    empty.touch()
    with pytest.raises(ModelError, match="is empty"):
        modelhub.resolve(empty)


@pytest.mark.parametrize("page", [b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>",
                                  b"\xef\xbb\xbf  <?xml version='1.0'?><Error>AccessDenied</Error>",
                                  b'{"error": "Repository not found"}'])
def test_an_error_page_saved_as_a_model_is_refused_as_a_page(tmp_path, page):
    # a model without a known sha256 (a .dfm, simswap_256) that is a saved error page was 'ok' to `verify`
    # and, at validate, 'not a valid ONNX model (a truncated download, or another format?)'
    dfm = tmp_path / "face.dfm"
    dfm.write_bytes(page)
    with pytest.raises(ModelError, match=f"model file {dfm} is a web page or other text, not a model .*what a "
                                         "failed or refused download leaves. Fix: replace it with a good copy"):
        modelhub.resolve(dfm)
    unhashed = Path(os.environ["NODEGRAPH_USER_MODELS"]) / "simswap_256.onnx"
    unhashed.parent.mkdir(parents=True, exist_ok=True)
    unhashed.write_bytes(page)
    result = modelhub.verify("simswap_256")[0]
    assert result.status == "bad" and "web page" in result.message
    assert "nodegraph models fetch simswap_256" in result.message
    assert run_models_cmd("verify", "simswap_256") == 2


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ModelError) as caught:
        modelhub.resolve("blazeface_tiny")
    message = str(caught.value)
    assert "unknown model 'blazeface_tiny'" in message
    for name in (*BUILTINS, "inswapper_128", "w600k_r50"):
        assert name in message
    assert run_models_cmd("verify", "blazeface_tiny") == 2
    with pytest.raises(ModelError, match=r"^unknown model 'inswapper': did you mean 'inswapper_128'\? known models"):
        modelhub.resolve("inswapper")  # the name without its size, as `models fetch inswapper` was tried


def test_missing_path_says_where_it_looked(tmp_path):
    with pytest.raises(ModelError) as caught:
        modelhub.resolve("sub/absent.onnx", base_dir=tmp_path)
    assert str(tmp_path / "sub" / "absent.onnx") in str(caught.value)


def test_a_folder_given_as_a_model_is_said_to_be_a_folder(tmp_path):
    (tmp_path / "face.dfm").mkdir()  # it was "not found", though it is right there
    with pytest.raises(ModelError, match=f"{tmp_path / 'face.dfm'} is a folder, not a model file; give the model "
                                         "file in it"):
        modelhub.resolve("face.dfm", base_dir=tmp_path)


def test_a_folder_at_a_manifest_models_file_name_is_said_to_be_a_folder(capsys):
    # "is not installed ... place the file by hand in <user models>", where a folder of that name is in the way
    user = Path(os.environ["NODEGRAPH_USER_MODELS"])
    (user / "inswapper_128.onnx").mkdir(parents=True)
    said = f"{user / 'inswapper_128.onnx'} is a folder, where the model 'inswapper_128' goes; move it away or rename it"
    with pytest.raises(ModelError, match=said):
        modelhub.resolve("inswapper_128")
    assert run_models_cmd("verify", "inswapper_128") == 0  # a user model not there fails no check
    assert said in capsys.readouterr().out


def test_a_url_given_as_a_model_says_to_download_it_first(tmp_path):
    # "not found (looked for <preset folder>/https:/example.com/face.dfm)"
    user = Path(os.environ["NODEGRAPH_USER_MODELS"])
    with pytest.raises(ModelError, match=f"^'https://example.com/face.dfm' is a web address: a model is given by "
                                         f"file or manifest name. Download it into the user model folder {user} "
                                         "and give its file name, face.dfm$"):
        modelhub.resolve("https://example.com/face.dfm", base_dir=tmp_path)


def test_a_model_folder_setting_that_names_the_model_file_says_so(tmp_path, monkeypatch, capsys):
    # NODEGRAPH_USER_MODELS set to the model file itself: "not installed ... place the file by hand in <the file>"
    model = tmp_path / "inswapper_128.onnx"
    model.write_bytes(b"the user's model")
    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(model))
    said = (f"the model folder {model} (chosen by NODEGRAPH_USER_MODELS={model}) is a file, not a folder; point "
            f"NODEGRAPH_USER_MODELS at the folder that holds inswapper_128.onnx")
    with pytest.raises(ModelError, match=re.escape(said)):
        modelhub.resolve("inswapper_128")
    run_models_cmd("verify", "inswapper_128")
    assert said in capsys.readouterr().out
    assert model.read_bytes() == b"the user's model"


def test_a_link_that_leads_nowhere_is_said_to_be_one_not_a_missing_file(tmp_path):
    # "not found (looked for .../face.dfm)" while `ls` shows face.dfm there
    user = Path(os.environ["NODEGRAPH_USER_MODELS"])
    user.mkdir(parents=True)
    (user / "face.dfm").symlink_to(tmp_path / "moved" / "face.dfm")
    (user / "a.onnx").symlink_to("b.onnx")
    (user / "b.onnx").symlink_to("a.onnx")
    (user / "w600k_r50.onnx").symlink_to(tmp_path / "old_disk" / "w600k_r50.onnx")
    for name, link, target in (("face.dfm", "face.dfm", tmp_path / "moved" / "face.dfm"),
                               ("a.onnx", "a.onnx", "b.onnx"),
                               ("w600k_r50", "w600k_r50.onnx", tmp_path / "old_disk" / "w600k_r50.onnx")):
        with pytest.raises(ModelError, match=f"^{user / link} is a symbolic link to {target}, which leads to no "
                                             "file .*; point the link at the model file"):
            modelhub.resolve(name, base_dir=tmp_path)
    assert "is a symbolic link to" in modelhub.verify("w600k_r50")[0].message
    (user / "folder.dfm").symlink_to(tmp_path)
    with pytest.raises(ModelError, match="is a folder, not a model file"):
        modelhub.resolve("folder.dfm", base_dir=tmp_path)


def test_a_pipe_or_a_device_given_as_a_model_is_said_to_be_no_file(tmp_path):
    # "model file '/dev/zero' not found (looked for /dev/zero)"
    os.mkfifo(tmp_path / "face.dfm")
    for given, named in (("face.dfm", tmp_path / "face.dfm"), ("/dev/zero", "/dev/zero")):
        with pytest.raises(ModelError, match=f"^{named} is not a file \\(a pipe, a device or a socket\\); give the "
                                             "path of the model file$"):
            modelhub.resolve(given, base_dir=tmp_path)


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


@pytest.mark.parametrize("manifest, said", [
    ('["a list"]', "expected a JSON object with 'models' and 'user_models'"),
    ('{"user_models": 5}', "'user_models' must be an object of model name -> entry"),
    ('{"user_models": {"x": 5}}', "user_models.x: must be an object with 'file'"),
    ('{"models": {"x": {"size": 3}}}', "models.x: has no 'file' field naming the model's file"),
    ('{"user_models": {"x": {"file": "x.onnx", "size": "big"}}}', "user_models.x: 'size' must be a whole number"),
    ('{"user_models": {"x": {"file": "x.onnx", "sha256": 7}}}', "user_models.x: 'sha256' must be 64 lowercase hex"),
    ('{"user_models": {"x": {"file": "x.onnx", "sha256": "ABC"}}}', "user_models.x: 'sha256' must be 64 lowercase"),
    ('{"user_models": {"x": {"file": "../../.bashrc"}}}', "user_models.x: 'file' must be a name inside the model"),
    ('{"user_models": {"x": {"file": "/etc/x.onnx"}}}', "user_models.x: 'file' must be a name inside the model"),
    ('{"user_models": {"x": {"file": "x.onnx", "size": -5}}}', "user_models.x: 'size' must be a whole number"),
    ('{"user_models": {"x": {"file": "' + "x" * 300 + '.onnx"}}}', "user_models.x: 'file' must be a name of at most"),
    ('{"models": {"x": {"file": "x.onnx"}}, "user_models": {"x": {"file": "y.onnx"}}}',
     "user_models.x: names the same model as models.x"),
])
def test_a_malformed_manifest_is_named_not_a_traceback(tmp_path, monkeypatch, capsys, manifest, said):
    path = tmp_path / "manifest.json"
    path.write_text(manifest)
    monkeypatch.setenv("NODEGRAPH_MANIFEST", str(path))
    assert run_models_cmd("list") == 2
    err = capsys.readouterr().err
    assert f"model manifest {path}: {said}" in err and "Traceback" not in err, err


def limited_memory():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a manifest read whole from /dev/zero stops here


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "folder"])
def test_a_manifest_that_is_no_file_is_refused_without_reading_or_waiting(tmp_path, kind):
    path = {"/dev/zero": Path("/dev/zero"), "fifo": tmp_path / "fifo", "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes it: opened blocking, it waits for ever
    result = subprocess.run([sys.executable, "-m", "nodegraph.cli", "models", "list"], capture_output=True, text=True,
                            timeout=60, preexec_fn=limited_memory, cwd=tmp_path,
                            env=repo_env({"NODEGRAPH_MANIFEST": str(path)}))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert (f"model manifest {path}: is not a file (a device, a pipe or a folder); point NODEGRAPH_MANIFEST at a "
            "model manifest (JSON)") in result.stderr


def test_json_that_is_not_a_manifest_is_said_to_be_none(tmp_path, monkeypatch, capsys):
    path = tmp_path / "package.json"
    path.write_text('{"name": "something else", "version": "1.0.0"}')
    monkeypatch.setenv("NODEGRAPH_MANIFEST", str(path))
    assert run_models_cmd("fetch", "xseg_1") == 2
    assert (f"model manifest {path}: has neither 'models' nor 'user_models', so it is not a model manifest; point "
            "NODEGRAPH_MANIFEST at a model manifest (JSON)") in capsys.readouterr().err


def test_a_manifest_of_no_models_says_so_not_an_empty_list(tmp_path, monkeypatch, capsys):
    path = tmp_path / "models.json"
    path.write_text('{"models": {}}')
    monkeypatch.setenv("NODEGRAPH_MANIFEST", str(path))
    assert run_models_cmd("fetch", "xseg_1") == 2
    assert f"unknown model 'xseg_1': the manifest {path} lists no models" in capsys.readouterr().err


def test_a_model_folder_that_cannot_be_looked_in_is_named_with_its_setting(tmp_path, monkeypatch):
    folder = tmp_path / ("y" * 300)  # longer than a file name may be: Path.is_file raised "File name too long"
    monkeypatch.setenv("NODEGRAPH_MODELS", str(folder))
    said = (f"cannot look for blazeface_short.onnx in {folder} (chosen by NODEGRAPH_MODELS={folder}): File name too "
            "long; point NODEGRAPH_MODELS at a folder you can read")
    with pytest.raises(ModelError) as e:
        modelhub.locate("blazeface_short")
    assert str(e.value) == said
    graph = preset.load(REPO / "presets" / "video_swap.json")
    problems = [str(p) for p in graph.validate(default_registry())]
    assert any(said.replace("blazeface_short", "blazeface_full") in p for p in problems), problems
    assert not any("a bug in the package" in p for p in problems), problems
