"""FacesFileOutput: the faces of every frame as JSON Lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path as FsPath

import numpy as np

from nodegraph.errors import InvalidInput, RunFailed
from nodegraph.made_folders import check_writable_folder
from nodegraph.node import Node
from nodegraph.output_files import OutputFile
from nodegraph.params import Path

from .face.records import Faces
from .outputs import DiskGuard

log = logging.getLogger("nodegraph")


def face_json(face: dict) -> dict:
    """The JSON-able part of a face record: box, score, track id, landmarks (x, y), in frame pixels."""
    out = {"box": np.round(np.asarray(face["box"], np.float64), 2).tolist(),
           "score": round(float(face.get("score", 0.0)), 4)}
    if "track_id" in face:
        out["track_id"] = int(face["track_id"])
    if face.get("landmarks") is not None:
        out["landmarks"] = np.round(np.asarray(face["landmarks"], np.float64)[:, :2], 2).tolist()
    return out


class FacesFileOutput(Node):
    """Writes the faces of every frame to a JSON Lines file (boxes, scores, landmarks).

    One line a frame: `{"frame": 0, "faces": [{"box": [x0, y0, x1, y1], "score": 0.98, "track_id": 0,
    "landmarks": [[x, y], ...]}]}` in frame pixels; `landmarks` once a FaceMarker ran. Each line is
    written as its frame passes, under a temporary name that becomes the file's when it closes, so a run
    that stops early, even a killed one, leaves every finished frame in the file."""

    category = "Output"
    restartable = False  # a restarted stage would reopen the file and truncate what was written
    inputs = {"faces": Faces}
    params = {"path": Path(role="output", extensions=[".jsonl"], help="the JSON Lines file to write")}
    cost_ms = 0.5

    def setup(self):
        target = FsPath(self.path)
        if target.is_dir():
            raise InvalidInput(f"{self.path}: is a folder; give a file name such as {target / 'faces.jsonl'}")
        self._guard = DiskGuard(target.parent, self.path)
        self._output = OutputFile(target, self.path, made=check_writable_folder(target.parent, self.path))
        try:
            self._file = self._output.temporary.open("w", encoding="utf-8", buffering=1)  # line-buffered
        except OSError as e:
            self._output.release(discard=True)
            raise InvalidInput(f"{self.path}: cannot write: {e.strerror}") from None
        self._lines = 0

    def process(self, faces):
        self._guard.check()
        line = json.dumps({"frame": self.frame_id, "faces": [face_json(face) for face in faces]})
        try:
            self._file.write(line + "\n")
        except OSError as e:
            raise RunFailed(f"{self.path}: cannot write: {e.strerror}") from None
        self._lines += 1
        return {}

    def close(self):
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()
            self._file = None
            if self._lines:
                kept = self._output.commit(self.stream_complete)
                beside = "" if kept == self._output.target else f" (the file already at {self.path} is left as it was)"
                log.info("node '%s' (FacesFileOutput): %s holds the faces of %d frame%s%s", self.id, kept,
                         self._lines, "s" * (self._lines != 1), beside)
            else:  # nothing written: a file already there stays as it was
                self._output.release(discard=True)
