import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# A suite a shell starts in the background (`pytest &`) inherits SIGINT ignored, and so would every process it
# starts: the Ctrl-C tests need SIGINT as a terminal gives it
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# optional: the suite also runs where pytest-xdist is not installed (scripts/gpu_check.sh's machine)
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config) -> int:
    """`pytest -n auto` (the README's test command, with pytest-xdist): a worker per core this process may use,
    at most 4. Each test starts processes of its own (stages, encoders, a local Ray), so more workers would
    only crowd the cores and the memory."""
    from nodegraph.threads import available_cores

    return min(4, available_cores())


# They start local Rays and look at every farm scratch folder in /tmp: one of them at a time
RAY_TEST_FILES = {"test_farm.py", "test_farm_cluster.py", "test_farm_command.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist hands out the tests one by one, as `--dist load` does, except the Ray tests: one worker
    runs them all, one after another. (Its own `xdist_group` marks do nothing under pytest 9: they rename
    the tests' node ids, which pytest 9 no longer lets a plug-in do.)"""
    from xdist.scheduler import LoadScopeScheduling

    class RayTestsOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "ray" if Path(nodeid.split("::")[0]).name in RAY_TEST_FILES else nodeid

    return RayTestsOnOneWorker(config, log)


def repo_env(extra: dict | None = None) -> dict:
    """The environment of a subprocess of the suite: os.environ with `extra`, and on PYTHONPATH the checkout,
    then extra's PYTHONPATH, then the suite's own, which is kept: where packages come from it (the GPU
    machine's, scripts/gpu_check.sh), a subprocess without it finds neither PyAV nor nodegraph's entry points."""
    extra = extra or {}
    paths = (str(REPO), extra.get("PYTHONPATH", ""), os.environ.get("PYTHONPATH", ""))
    return {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(filter(None, paths))}


# what `auto` says of each model where a GPU provider loads: its label, each provider's time, the one it took
AUTO_CHOICE = re.compile(r"nodegraph: onnxruntime: (?P<label>.+): ((TensorRT|CUDA|DirectML|CoreML|CPU) [\d.]+ ms"
                         r"(, |(?= -> )))+ -> (TensorRT|CUDA|DirectML|CoreML|CPU)")


def run_cli(*args, cwd=None, timeout=120, env=None):
    """Run the real `nodegraph` command in a subprocess; returns CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "nodegraph.cli", *map(str, args)], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, env=repo_env(env))


@pytest.fixture(autouse=True)
def nodegraph_logger_restored():
    """A test that calls `nodegraph.cli.main` in this process gets the CLI's handler on pytest's captured
    stderr, which is closed after the test; put the logger back so later tests log (and caplog sees)."""
    logger = logging.getLogger("nodegraph")
    saved = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def clip300(tmp_path_factory):
    from clips import write_clip

    return write_clip(tmp_path_factory.mktemp("clips") / "clip300.mp4", frames=300)


@pytest.fixture
def isolated_models(tmp_path, monkeypatch):
    """No test reads or writes the real user model folder."""
    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(tmp_path / "user"))
    monkeypatch.delenv("NODEGRAPH_MODELS", raising=False)
    monkeypatch.delenv("NODEGRAPH_MANIFEST", raising=False)


@pytest.fixture
def small_disk(tmp_path):
    """mount(name, size, read_only=False, inodes=None) -> a folder that is a tmpfs of that size, holding at most
    `inodes` files and folders, itself included (unmounted after)."""
    mounted = []

    def mount(name, size, read_only=False, inodes=None):
        folder = tmp_path / name
        folder.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no `mount` command here")
        options = f"size={size}" + (",ro" if read_only else "") + (f",nr_inodes={inodes}" if inodes else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip("cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN): "
                        f"{done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture
def bind_mount():
    """mount(source, target): `target` shows the folder `source` (`mount --bind`; unmounted after)."""
    mounted = []

    def mount(source, target):
        done = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot bind-mount a folder here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
        mounted.append(target)

    yield mount
    for target in mounted:
        subprocess.run(["umount", str(target)], check=True)


@pytest.fixture
def run_id():
    """A run id for shared-memory segments, whose segments are removed after the test."""
    from nodegraph import shm

    run = shm.new_run_id()
    yield run
    shm.cleanup(run)


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    """A real HTTPS server for `models fetch` (tests/model_server.py), one per test module."""
    from model_server import HttpsModelServer

    if shutil.which("openssl") is None:
        pytest.skip("the openssl binary is needed to make the test server's certificate")
    srv = HttpsModelServer(tmp_path_factory.mktemp("https"))
    yield srv
    srv.close()


@pytest.fixture
def server(https_server, tmp_path, monkeypatch):
    """The HTTPS server reset, and a manifest (NODEGRAPH_MANIFEST) of user models it serves, each a way to fail."""
    import hashlib
    import json

    from model_server import PAYLOAD, closed_port, manifest_data

    srv = https_server
    srv.requests.clear()
    srv.honour_range = True
    srv.cut_after = srv.stall_after = None
    srv.extra, srv.send_length, srv.pause_s = 0, True, 0.0
    srv.files.clear()
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    base = f"https://127.0.0.1:{srv.port}"
    data = manifest_data()
    data["user_models"] = {
        "served": {"file": "served.onnx", "url": f"{base}/model.onnx", "sha256": digest, "size": len(PAYLOAD)},
        "wrong_hash": {"file": "wrong.onnx", "url": f"{base}/model.onnx", "sha256": "0" * 64},
        "no_hash": {"file": "nohash.onnx", "url": f"{base}/model.onnx", "sha256": None},
        "plain_http": {"file": "plain.onnx", "url": f"http://127.0.0.1:{srv.port}/model.onnx", "sha256": digest},
        "to_http": {"file": "to_http.onnx", "url": f"{base}/redirect", "sha256": digest},
        "page": {"file": "page.onnx", "url": f"{base}/error-page", "sha256": None},
        "page_hashed": {"file": "page_hashed.onnx", "url": f"{base}/error-page", "sha256": digest},
        "loop": {"file": "loop.onnx", "url": f"{base}/redirect-loop", "sha256": digest},
        "offline": {"file": "offline.onnx", "url": f"https://127.0.0.1:{closed_port()}/model.onnx",
                    "sha256": digest, "size": len(PAYLOAD)},
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(data))
    monkeypatch.setenv("NODEGRAPH_MANIFEST", str(manifest))
    return srv
