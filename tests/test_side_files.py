"""Files written beside a run's outputs (`--stats-json`): never one that must be kept, found before the run."""

import os
import stat

from test_cli import node, write_preset

from nodegraph.cli import main


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
