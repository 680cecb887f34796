"""Output names up to the file system's 255 bytes work: the lock and the staging folder a run keeps beside an
output are shortened to fit, and anything else in their place is a clear error."""

from pathlib import Path

import pytest
from test_cli import node, write_preset

from nodegraph.cli import main
from nodegraph.errors import InvalidInput
from nodegraph.output_checks import is_lock_name, lock_path
from nodegraph.output_files import OutputFile, place_for_partial
from nodegraph.output_folders import keep_staged_beside, staging_folder

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


def test_what_a_run_keeps_beside_a_long_named_output_gets_a_name_that_fits(tmp_path):
    # a stopped run over an existing 250-byte name wrote NAME.partial.mp4 (258 bytes): the rename raised and the
    # video it wrote stayed hidden, more of them at each try
    target = tmp_path / LONGEST
    target.write_bytes(b"the user's video")
    kept = place_for_partial(target)
    assert kept.name.endswith("a.partial.mp4") and len(kept.name.encode()) == 255
    kept.write_bytes(b"what a stopped run wrote")
    again = place_for_partial(target)
    assert again.name.endswith("a.partial-1.mp4") and len(again.name.encode()) == 255
    assert place_for_partial(tmp_path / "short.mp4") == tmp_path / "short.mp4"  # nothing there: the name itself
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "frame_0.png").write_bytes(b"a picture")
    folder, files = keep_staged_beside(tmp_path / ("b" * 250), staging)
    assert files == 1 and folder.name.endswith("b.partial") and len(folder.name.encode()) == 255


def test_an_extension_too_long_for_any_name_is_a_clear_error_not_a_hang(tmp_path):
    # the stem was cut one character at a time, forever, once the part after it alone was past 255 bytes
    target = tmp_path / ("x." + "b" * 252)  # a name that fits, but NAME.partial.EXT fits in no way
    target.write_bytes(b"")
    with pytest.raises(InvalidInput, match="no name with so long an extension fits .* choose an output name"):
        place_for_partial(target)
