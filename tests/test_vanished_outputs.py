"""An output removed while it is written (its folder deleted or unmounted, its temporary file cleaned away)
fails the run with exit 3 and says what was lost, never "no frame was written" with exit 0."""

import os
import shutil
import time

import pytest
from test_cli import node, write_preset
from test_output_safety import finish, spawn
from test_partial_outputs import MODES, lock_holder


def paced_pattern_to(tmp_path, out):
    """Three seconds of a paced pattern into `out`: time to take the output away while it is written."""
    return write_preset(tmp_path / "p.json",
                        [node("src", "TestPattern", width=160, height=120, frames=90, realtime=True, fps=30.0),
                         node("out", "VideoFileOutput", path=str(out))], [("src.frame", "out.frame")])


def run_removing(tmp_path, out, remove, mode):
    """Run into `out`, call `remove(temporary file)` once the writer has made it; returns the run's stderr."""
    process = spawn(paced_pattern_to(tmp_path, out), *mode)
    try:
        _, temporary = lock_holder(out, time.monotonic() + 60, lambda held: len(held) == 2)
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
