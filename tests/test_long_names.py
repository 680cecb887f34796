"""Output names up to the file system's 255 bytes work: the lock and the staging folder a run keeps beside an
output are shortened to fit, and anything else in their place is a clear error."""

from pathlib import Path

import pytest
from test_cli import node, write_preset

from nodegraph.cli import main
from nodegraph.errors import InvalidInput
from nodegraph.output_checks import is_lock_name, lock_path
from nodegraph.output_files import OutputFile
from nodegraph.output_folders import staging_folder

LONGEST = "a" * 246 + ".mp4"  # 250 bytes: a valid name, but ".NAME.lock" would be 256


def test_a_run_writes_an_output_whose_name_is_near_the_limit(tmp_path, capsys):
    target = tmp_path / LONGEST
    preset = write_preset(tmp_path / "p.json", [node("src", "TestPattern", frames=3),
                                                node("out", "VideoFileOutput", path=str(target))],
                          [("src.frame", "out.frame")])
    assert main(["run", str(preset), "--sequential"]) == 0, capsys.readouterr().err
    assert target.stat().st_size > 0 and not lock_path(target).exists()


def test_the_lock_and_staging_names_of_a_long_output_fit_and_stay_apart():
    other = "a" * 246 + ".mov"
    for name in (lock_path(Path(LONGEST)).name, staging_folder(Path(LONGEST), "f" * 32).name):
        assert len(name.encode()) <= 255
    assert is_lock_name(lock_path(Path(LONGEST)))
    assert lock_path(Path(LONGEST)) == lock_path(Path(LONGEST)) != lock_path(Path(other))
    assert lock_path(Path("d.mp4")).name == ".d.mp4.lock"  # a name that fits is kept as it was


def test_a_folder_at_the_lock_name_is_a_clear_error(tmp_path):
    lock_path(tmp_path / "d.mp4").mkdir()
    with pytest.raises(InvalidInput, match=r"\.d\.mp4\.lock is not a lock file of nodegraph's .*remove it"):
        OutputFile(tmp_path / "d.mp4", "d.mp4")
