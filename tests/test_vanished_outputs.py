"""An output removed while it is written (its folder deleted or unmounted, its temporary file cleaned away)
fails the run with exit 3 and says what was lost, never "no frame was written" with exit 0."""

import os
import shutil
import time

import pytest
from clips import indexed_frame
from test_cli import node, write_preset
from test_output_safety import finish, spawn
from test_partial_outputs import MODES, lock_holder

from nodegraph.errors import RunFailed
from nodegraph.node import StreamInfo
from nodes.outputs import ImageSequenceOutput


def paced_pattern_to(tmp_path, out):
    """Three seconds of a paced pattern into `out`: time to take the output away while it is written."""
    return write_preset(tmp_path / "p.json",
                        [node("src", "TestPattern", width=160, height=120, frames=90, realtime=True, fps=30.0),
                         node("out", "VideoFileOutput", path=str(out))], [("src.frame", "out.frame")])


def run_removing(tmp_path, out, remove, mode):
    """Run into `out`, call `remove(temporary file)` once the writer has made it; returns the run's stderr."""
    process = spawn(paced_pattern_to(tmp_path, out), *mode)
    try:
        _, temporary = lock_holder(out, time.monotonic() + 60, lambda held: held.temporary)
        remove(temporary)
    finally:
        stderr = finish(process, timeout=60)
    assert process.returncode == 3, stderr
    assert (f"the file it was written into, {temporary}, was removed while the run wrote it, so what it wrote is "
            "lost; write into a folder that nothing else removes or unmounts") in stderr
    return stderr


@pytest.mark.parametrize("mode", MODES)
def test_an_output_folder_removed_while_written_fails_the_run(tmp_path, mode):
    folder = tmp_path / "renders"
    out = folder / "v.mp4"
    stderr = run_removing(tmp_path, out, lambda temporary: shutil.rmtree(folder), mode)
    assert f"{out}: cannot read its folder {folder}: No such file or directory" in stderr
    assert not folder.exists()


def test_a_temporary_file_removed_while_written_fails_the_run(tmp_path):
    out = tmp_path / "v.mp4"
    run_removing(tmp_path, out, os.unlink, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


@pytest.mark.parametrize("taken", ["folder removed", "name blocked", "first name blocked"])
def test_a_picture_that_cannot_be_written_says_what_became_of_those_before(tmp_path, taken):
    # a picture folder removed while written said "the pictures before it are whole" of pictures gone with it
    folder = tmp_path / "seq"
    out = ImageSequenceOutput("out", {"path": str(folder)})
    out.stream = StreamInfo(run="test")
    out.setup()
    try:
        first = 0 if taken == "first name blocked" else 3  # "the pictures before it are whole": there were none
        for frame_id in range(first):
            out.frame_id = frame_id
            out.process(frame=indexed_frame(frame_id))
        if taken == "folder removed":
            shutil.rmtree(folder)
        else:
            (folder / f"frame_00000{first}.png").mkdir()
        out.frame_id = first
        with pytest.raises(RunFailed) as failed:
            out.process(frame=indexed_frame(first))
    finally:
        out.close()
    said = str(failed.value).partition("; ")[2]
    if taken == "folder removed":
        assert said == (f"the folder it wrote into, {folder}, was removed while the run wrote into it, so the "
                        "pictures it wrote there are lost; write into a folder that nothing else removes or unmounts")
    elif taken == "first name blocked":
        assert said == "no picture was written before it"
    else:
        assert said == "the pictures before it are whole"
        assert sorted(p.name for p in folder.glob("frame_*.png") if p.is_file()) == [f"frame_00000{i}.png"
                                                                                    for i in range(3)]
