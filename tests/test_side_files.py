"""Files written beside a run's outputs (`--stats-json`): never one that must be kept, found before the run."""

import os
import stat

from test_cli import node, write_preset

from nodegraph.cli import main
from nodegraph.output_checks import lock_path
from nodegraph.output_files import OutputFile


def null_preset(tmp_path):
    return write_preset(tmp_path / "p.json", [node("src", "TestPattern"), node("out", "NullOutput")],
                        [("src.frame", "out.frame")])


def refused(capsys, *args):
    """What `nodegraph ARGS` says when it refuses them (exit 2, before any frame)."""
    assert main([*map(str, args)]) == 2
    said = capsys.readouterr().err
    assert "done:" not in said
    return said


def test_a_read_only_stats_file_is_refused_before_the_run_and_kept(tmp_path, capsys):
    kept = tmp_path / "ro.json"
    kept.write_text("kept\n")
    kept.chmod(0o444)
    said = refused(capsys, "run", null_preset(tmp_path), "--frames", "1", "--stats-json", kept)
    assert (f"nodegraph: --stats-json {kept}: the file already there is read-only (mode 0444), so a run does not "
            "replace it: make it writable (chmod u+w)") in said
    assert kept.read_text() == "kept\n" and stat.S_IMODE(os.stat(kept).st_mode) == 0o444


def test_a_stats_file_named_as_a_lock_is_refused_and_another_runs_lock_kept(tmp_path, capsys):
    writing = OutputFile(tmp_path / "other.mp4", "other.mp4")  # another run, writing other.mp4 now
    lock = lock_path(tmp_path / "other.mp4")
    held = os.stat(lock).st_ino
    try:
        for target in (lock, tmp_path / ".free.mp4.lock"):
            said = refused(capsys, "run", null_preset(tmp_path), "--frames", "1", "--stats-json", target)
            assert f"--stats-json {target}: is named as a lock file of nodegraph's (.NAME.lock)" in said
        assert os.stat(lock).st_ino == held and not (tmp_path / ".free.mp4.lock").exists()
    finally:
        writing.release(discard=True)


def test_a_run_gives_back_its_lock_and_never_removes_another_put_at_its_name(tmp_path):
    first = OutputFile(tmp_path / "out.mp4", "out.mp4")
    lock = lock_path(tmp_path / "out.mp4")
    other = tmp_path / "other"
    other.write_text("4242\n")
    os.replace(other, lock)  # another run's lock now sits at the name
    first.release(discard=True)
    assert lock.read_text() == "4242\n"
    lock.unlink()
    second = OutputFile(tmp_path / "out.mp4", "out.mp4")
    second.release(discard=True)
    assert not lock.exists()  # its own lock, given back


def test_a_stats_path_that_is_a_link_to_nothing_is_refused_naming_both(tmp_path, capsys):
    link = tmp_path / "stats.json"
    link.symlink_to(tmp_path / "gone" / "stats.json")
    said = refused(capsys, "run", null_preset(tmp_path), "--frames", "1", "--stats-json", link)
    assert (f"--stats-json {link}: is a symbolic link to {tmp_path / 'gone' / 'stats.json'}, which does not exist; "
            "remove the link or give another file name") in said
    assert link.is_symlink()
