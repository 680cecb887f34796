"""File > Fetch missing models in a real editor window under Xvfb, clicked through XTest, against the real local HTTPS
model server (tests/model_server.py): the models a graph names and lacks are asked about with their sizes and
licences, fetched on a thread of their own, verified, and the nodes' "not installed" marks go; one that fails is
said and the others still land; closing the editor during a download neither waits for it nor installs a part.
Run directly, this file is the editor's process (`python tests/test_editor_models.py fetch`)."""

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mask_models import occluder_model, parser_model
from model_server import PAYLOAD, user_folder
from test_editor_clicks import editor, item, menu_item_rect, menu_rect, rect, run_driver
from test_editor_gui import display  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("isolated_models")]

FETCH_ITEM = "Fetch missing models..."


def serve_mask_models(server, tmp_path, monkeypatch) -> dict[str, bytes]:
    """The server's catalogue (NODEGRAPH_MANIFEST) plus an occluder and a parser it serves: real ONNX models
    with the tensors FaceMask checks, so that once fetched the node has no problem left. SSL_CERT_FILE makes
    modelhub trust the server's certificate, in the editor's process too."""
    served = {"test_occluder": occluder_model(tmp_path / "occluder.onnx").read_bytes(),
              "test_parser": parser_model(tmp_path / "parser.onnx", np.eye(19, 3)).read_bytes()}
    manifest = Path(os.environ["NODEGRAPH_MANIFEST"])
    data = json.loads(manifest.read_text())
    for name, payload in served.items():
        server.files[f"/{name}.onnx"] = payload
        data["user_models"][name] = {"file": f"{name}.onnx", "url": f"https://127.0.0.1:{server.port}/{name}.onnx",
                                     "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload),
                                     "licence": f"{name}'s licence: tests only"}
    manifest.write_text(json.dumps(data))
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
    return served


def mask_preset(tmp_path, occluder: str, parser: str, enhancer: str | None = None) -> Path:
    nodes = [{"id": "pattern", "type": "TestPattern", "params": {"frames": 2}},
             {"id": "detect", "type": "FaceDetector"},
             {"id": "mask", "type": "FaceMask", "params": {"occluder": occluder, "parser": parser}}]
    links = [{"from": "pattern.frame", "to": "detect.frame"}, {"from": "pattern.frame", "to": "mask.frame"},
             {"from": "detect.faces", "to": "mask.faces"}]
    if enhancer is not None:
        nodes.append({"id": "enhancer", "type": "FaceEnhancer", "params": {"model": enhancer}})
        links += [{"from": "pattern.frame", "to": "enhancer.frame"}, {"from": "detect.faces", "to": "enhancer.faces"}]
    path = tmp_path / "masks.json"
    path.write_text(json.dumps({"format": "nodegraph-preset", "version": 1, "name": "masks", "nodes": nodes,
                                "links": links}))
    return path


def test_the_models_a_graph_lacks_are_fetched_verified_and_its_marks_go(display, server, tmp_path,  # noqa: F811
                                                                        monkeypatch):
    # a node naming a model not installed could only point to `nodegraph models fetch` in a terminal
    served = serve_mask_models(server, tmp_path, monkeypatch)
    mask_preset(tmp_path, "test_occluder", "test_parser")
    run_driver(display, tmp_path, "fetch", __file__)
    for name, payload in served.items():
        assert (user_folder() / f"{name}.onnx").read_bytes() == payload
    assert sorted(path for path, _ in server.requests) == ["/test_occluder.onnx", "/test_parser.onnx"]


def test_a_model_that_fails_is_said_and_the_others_still_land(display, server, tmp_path, monkeypatch):  # noqa: F811
    served = serve_mask_models(server, tmp_path, monkeypatch)
    mask_preset(tmp_path, "test_occluder", "wrong_hash", enhancer="no_hash")
    run_driver(display, tmp_path, "one_fails", __file__)
    assert (user_folder() / "test_occluder.onnx").read_bytes() == served["test_occluder"]
    assert sorted(p.name for p in user_folder().iterdir()) == ["test_occluder.onnx"]  # no part, no unchecked file


def test_closing_the_editor_during_a_download_neither_waits_nor_installs_a_part(display, server, tmp_path,  # noqa: F811
                                                                              monkeypatch):
    serve_mask_models(server, tmp_path, monkeypatch)
    server.pause_s = 1.0  # 7 blocks of 64 kB: the download takes 7 s
    mask_preset(tmp_path, "served", "")
    started = time.monotonic()
    run_driver(display, tmp_path, "quit", __file__)
    assert time.monotonic() - started < 30
    part = user_folder() / "served.onnx.part"
    assert not (user_folder() / "served.onnx").exists()
    assert 0 < part.stat().st_size < len(PAYLOAD)
    from nodegraph import modelhub

    kept = part.stat().st_size
    server.pause_s, server.requests[:] = 0.0, []
    assert modelhub.fetch("served", ssl_context=server.client_context).read_bytes() == PAYLOAD
    assert server.requests == [("/model.onnx", f"bytes={kept}-")]  # resumed where the editor left it


# -- the editor's process -------------------------------------------------------------------------------


def open_the_question(app, pointer) -> str:
    """File > Fetch missing models, clicked; the question's text."""
    import dearpygui.dearpygui as dpg

    pointer.click(menu_rect(app, "File"))
    pointer.click(menu_item_rect(app, "File", FETCH_ITEM))
    window = next(w for w in dpg.get_windows() if dpg.get_item_label(w) == "Fetch missing models")
    return "\n".join(dpg.get_value(t) for t in dpg.get_item_children(window, 1)
                     if dpg.get_item_type(t).endswith("mvText"))


def fetched(app, pointer, seconds: float = 60) -> None:
    """Frames until the fetch is over and its last messages are shown."""
    deadline = time.monotonic() + seconds
    while (app.models.busy or not app.models.events.empty()) and time.monotonic() < deadline:
        pointer.frames(1)
        time.sleep(0.02)
    assert not app.models.busy, "the fetch did not end"
    until = time.monotonic() + 0.3  # the nodes' marks follow the problems 10 times a second
    while time.monotonic() < until:
        pointer.frames(1)


def problems(app, node_id: str) -> str:
    return app.canvas.nodes[node_id].error_text


def inspector_text(app) -> str:
    """Every text the inspector shows (with no node selected: the graph's problems), its lines joined: where they
    break depends on the inspector's width, which is the window's share."""
    import dearpygui.dearpygui as dpg

    texts, items = [], [app.inspector.window]
    while items:
        item_id = items.pop()
        if dpg.get_item_type(item_id).endswith("mvText"):
            texts.append(str(dpg.get_value(item_id)))
        items += [child for slot in dpg.get_item_children(item_id).values() for child in slot]
    return " ".join(" ".join(texts).split())


def said(state) -> str:
    return "\n".join(f"{entry.level}: {entry.text}" for entry in state.log)


def drive_fetch() -> None:
    import dearpygui.dearpygui as dpg

    state, app, pointer = editor(Path.cwd() / "masks.json")
    pointer.frames(5)
    assert problems(app, "mask").count("is not installed") == 2, problems(app, "mask")
    assert "(test_occluder.onnx) is not installed" in inspector_text(app)
    assert "File > Fetch missing models downloads them" in said(state)
    from nodegraph import modelhub

    text = open_the_question(app, pointer)
    sizes = {name: modelhub.load_manifest().entries[name].size for name in ("test_occluder", "test_parser")}
    for name, size in sizes.items():
        assert f"{name}, {size} bytes, licence: {name}'s licence: tests only" in text, text
    assert f"{sum(sizes.values())} bytes in all, into {user_folder()}" in text and "Fetch them?" in text, text
    pointer.click(rect(item("mvButton", "Fetch")))
    fetched(app, pointer)
    log = said(state)
    for name in ("test_occluder", "test_parser"):
        assert f"info: {name}: installed as {user_folder() / name}.onnx (verified)" in log, log
    assert "error" not in log, log
    assert problems(app, "mask") == "", problems(app, "mask")  # its red mark is gone
    assert "problem" not in inspector_text(app), inspector_text(app)  # and the inspector's list of problems
    assert not dpg.get_item_configuration(app.fetch_item)["enabled"]  # nothing is missing any more
    app.close()
    print("fetch checks passed")


def drive_one_fails() -> None:
    state, app, pointer = editor(Path.cwd() / "masks.json")
    pointer.frames(5)
    text = open_the_question(app, pointer)
    assert "no_hash, size unknown, licence not given in the catalogue, NO known sha256" in text, text
    pointer.click(rect(item("mvButton", "Fetch the 2 checked")))
    fetched(app, pointer)
    log = said(state)
    assert "info: test_occluder: installed as" in log, log
    assert "error: wrong_hash could not be fetched: the download of 'wrong_hash' from" in log, log
    assert f"its sha256 is {hashlib.sha256(PAYLOAD).hexdigest()}, expected {'0' * 64}" in log, log
    assert "warning: no_hash was not fetched: the catalogue has no sha256 for it" in log, log
    assert "error: 1 of 2 models could not be fetched (above); the others are in place" in log, log
    assert "occluder" not in problems(app, "mask") and "'wrong_hash'" in problems(app, "mask"), problems(app, "mask")
    app.close()
    print("one_fails checks passed")


def drive_quit() -> None:
    state, app, pointer = editor(Path.cwd() / "masks.json")
    open_the_question(app, pointer)
    pointer.click(rect(item("mvButton", "Fetch")))
    part = user_folder() / "served.onnx.part"
    deadline = time.monotonic() + 20
    while not (part.exists() and part.stat().st_size) and time.monotonic() < deadline:
        pointer.frames(1)
    assert part.exists() and app.models.busy
    pointer.click(menu_rect(app, "File"))
    pointer.click(menu_item_rect(app, "File", "Quit"))
    assert app.quit
    started = time.monotonic()
    app.close()
    assert time.monotonic() - started < 2.5, f"the close waited {time.monotonic() - started:.1f} s"
    print("quit checks passed")


DRIVERS = {"fetch": drive_fetch, "one_fails": drive_one_fails, "quit": drive_quit}

if __name__ == "__main__" and sys.argv[1:2] and sys.argv[1] in DRIVERS:
    DRIVERS[sys.argv[1]]()
