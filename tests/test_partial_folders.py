"""Picture folders get the rule files have: a run into a folder that holds pictures already and does not
complete (a source fails, Ctrl-C, a killed writer, a killed run) replaces none of them; what it wrote is
kept beside the folder as NAME.partial (then NAME.partial-1, ...). A run that completes replaces the
pictures of the same names, and a stage restarted within the run carries on in the same place."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import repo_env, run_cli
from test_cli import node, write_preset
from test_exit_codes import fault_nodes_env  # noqa: F401 (a fixture)
from test_output_faults import without_permission_override
from test_output_safety import finish, spawn
from test_partial_outputs import MODES, digest, kill_writer, lock_holder, names, pictures


def folder_to_pictures(tmp_path, seq):
    # a picture that cannot be read stops the run: a run that fails part-way
    source = node("src", "FolderSource", path=str(tmp_path / "imgs"), unreadable="stop")
    return write_preset(tmp_path / "p.json", [source, node("out", "ImageSequenceOutput", path=str(seq))],
                        [("src.frame", "out.frame")])


def digests(folder):
    return {p.name: digest(p) for p in sorted(folder.iterdir())}


def earlier_pictures(tmp_path, count=4):
    """`tmp_path/seq` holding `count` pictures from a run that completed; returns (seq, their digests)."""
    seq = tmp_path / "seq"
    pictures(tmp_path / "imgs", count)
    assert run_cli("run", folder_to_pictures(tmp_path, seq)).returncode == 0
    assert len(names(seq)) == count
    return seq, digests(seq)


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_run_into_a_folder_of_pictures_replaces_none_and_keeps_its_own_beside(tmp_path, mode):
    seq, earlier = earlier_pictures(tmp_path)
    preset = tmp_path / "p.json"

    pictures(tmp_path / "imgs", 4, bad=2, shade=7)
    failed = run_cli("run", preset, *mode)
    assert failed.returncode == 3, failed.stderr
    partial = tmp_path / "seq.partial"
    assert digests(seq) == earlier
    assert names(partial) == ["frame_000000.png", "frame_000001.png"]
    assert digest(partial / "frame_000000.png") != earlier["frame_000000.png"]  # the new run's pictures
    assert (f"{seq}: this run did not complete, so the 2 files it wrote are kept beside it in {partial}; "
            f"the files already in {seq} are left as they were") in failed.stderr

    again = run_cli("run", preset, *mode)  # the next failure takes the next free name
    assert again.returncode == 3, again.stderr
    assert digests(seq) == earlier and len(names(tmp_path / "seq.partial-1")) == 2

    pictures(tmp_path / "imgs", 3, shade=9)  # a run that completes replaces the pictures it writes
    (tmp_path / "imgs" / "p3.jpg").unlink()
    done = run_cli("run", preset, *mode)
    assert done.returncode == 0, done.stderr
    replaced = digests(seq)
    assert sorted(replaced) == sorted(earlier)
    assert all(replaced[n] != earlier[n] for n in ["frame_000000.png", "frame_000001.png", "frame_000002.png"])
    assert replaced["frame_000003.png"] == earlier["frame_000003.png"]  # past this run's last: not touched
    # but said, or a sequence read from the folder mixed the two runs' pictures without a word
    assert (f"{seq}: this run replaced the pictures of the same names and left 1 of an earlier run's "
            "(frame_000003.png to frame_000003.png) as they were, so the folder's sequence mixes the two runs: "
            "remove those, or write into an empty folder") in done.stderr
    assert names(tmp_path) == ["imgs", "p.json", "seq", "seq.partial", "seq.partial-1"]  # nothing hidden left


def test_a_read_only_picture_is_not_replaced(tmp_path):
    seq, earlier = earlier_pictures(tmp_path, count=2)
    (seq / "frame_000001.png").chmod(0o444)
    refused = run_cli("run", tmp_path / "p.json")
    assert refused.returncode == 2, refused.stderr
    assert (f"{seq}: {seq / 'frame_000001.png'} is read-only, so a run does not replace it: make the pictures "
            "writable (chmod u+w) or choose another folder") in refused.stderr
    assert digests(seq) == earlier and names(tmp_path) == ["imgs", "p.json", "seq"]


def test_a_failed_run_into_an_empty_folder_keeps_its_pictures_there(tmp_path):
    seq = tmp_path / "seq"
    pictures(tmp_path / "imgs", 3, bad=1)
    failed = run_cli("run", folder_to_pictures(tmp_path, seq))
    assert failed.returncode == 3, failed.stderr
    assert names(seq) == ["frame_000000.png"]
    assert names(tmp_path) == ["imgs", "p.json", "seq"]


def endless_to_pictures(tmp_path, seq):
    """A paced endless pattern into the picture folder `seq`, the writer in a process of its own (pinned)."""
    source, writer = (node("src", "TestPattern", width=160, height=120, frames=0, realtime=True, fps=30.0),
                      node("out", "ImageSequenceOutput", path=str(seq)))
    source["process"], writer["process"] = "a", "b"
    return write_preset(tmp_path / "p.json", [source, writer], [("src.frame", "out.frame")])


def whole_pictures(folder):
    """How many pictures `folder` holds, not counting one being written (a hidden temporary file)."""
    return sum(not name.startswith(".") for name in os.listdir(folder))


def staging(seq, deadline, at_least=10):
    """The writer's (pid, hidden folder) from its lock, once that folder holds `at_least` pictures."""
    return lock_holder(seq, deadline, lambda held: held.run and os.path.isdir(held.temporary)
                       and whole_pictures(held.temporary) >= at_least)


@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_leaves_the_folder_as_it_was_and_the_pictures_beside_it(tmp_path, mode):
    seq, earlier = earlier_pictures(tmp_path)
    process = spawn(endless_to_pictures(tmp_path, seq), *mode)
    try:
        _, hidden = staging(seq, time.monotonic() + 60)
        assert os.path.dirname(hidden) == str(tmp_path) and os.path.basename(hidden).startswith(".seq.")
        os.killpg(process.pid, signal.SIGINT)
    finally:
        stderr = finish(process, timeout=60)
    assert process.returncode == 130, stderr
    assert digests(seq) == earlier
    kept = names(tmp_path / "seq.partial")
    assert len(kept) >= 10 and all(name.startswith("frame_") and name.endswith(".png") for name in kept)
    assert f"kept beside it in {tmp_path / 'seq.partial'}" in stderr
    assert names(tmp_path) == ["imgs", "p.json", "seq", "seq.partial"]


def test_a_restarted_writer_carries_on_in_the_same_place(tmp_path):
    """Realtime: the killed writer's stage is restarted, and its pictures go on into the same hidden folder."""
    seq, earlier = earlier_pictures(tmp_path)
    process = spawn(endless_to_pictures(tmp_path, seq))
    try:
        pid, hidden = staging(seq, time.monotonic() + 60)
        os.kill(pid, signal.SIGKILL)
        restarted, again = staging(seq, time.monotonic() + 60, at_least=whole_pictures(hidden) + 10)
        assert restarted != pid and again == hidden
        os.killpg(process.pid, signal.SIGINT)
    finally:
        stderr = finish(process, timeout=60)
    assert process.returncode == 130, stderr
    assert "(nodes: out) died (killed by SIGKILL); restarting it" in stderr
    assert digests(seq) == earlier
    assert len(names(tmp_path / "seq.partial")) >= 20
    assert names(tmp_path) == ["imgs", "p.json", "seq", "seq.partial"]


def test_a_killed_writer_that_is_not_restarted_is_rescued_beside_the_folder(tmp_path):
    """Lossless: the writer's stage cannot be restarted without losing frames, so the run stops and puts
    what it wrote beside the folder."""
    seq, earlier = earlier_pictures(tmp_path)
    process = spawn(endless_to_pictures(tmp_path, seq), "--mode", "lossless")
    pid, stderr = kill_writer(process, lambda: staging(seq, time.monotonic() + 60)[0])
    assert process.returncode == 3, stderr
    partial = tmp_path / "seq.partial"
    assert digests(seq) == earlier
    count = len(names(partial))
    assert count >= 10
    assert (f"node 'out' (ImageSequenceOutput): its writer (pid {pid}) was stopped before it finished; the {count} "
            f"files it wrote are kept beside {seq} in {partial}, and the files already in {seq} are left as they "
            "were") in stderr
    assert names(tmp_path) == ["imgs", "p.json", "seq", "seq.partial"]


def test_what_a_killed_run_left_hidden_is_made_visible_by_the_next_run(tmp_path):
    seq, earlier = earlier_pictures(tmp_path)
    process = spawn(endless_to_pictures(tmp_path, seq))
    try:
        staging(seq, time.monotonic() + 60)
        os.killpg(process.pid, signal.SIGKILL)  # the whole run: nothing of it can clean up
    finally:
        finish(process, timeout=60)
    left = [name for name in os.listdir(tmp_path) if name.startswith(".seq.") and name.endswith(".partial")]
    assert len(left) == 1
    count = whole_pictures(tmp_path / left[0])

    pictures(tmp_path / "imgs", 2, shade=3)
    for extra in ("p2.jpg", "p3.jpg"):
        (tmp_path / "imgs" / extra).unlink()
    done = run_cli("run", folder_to_pictures(tmp_path, seq))
    assert done.returncode == 0, done.stderr
    partial = tmp_path / "seq.partial"
    assert f"a run that was killed left {count} files; they are kept beside it as {partial}" in done.stderr
    assert len(names(partial)) == count
    now = digests(seq)
    assert now["frame_000000.png"] != earlier["frame_000000.png"]
    assert now["frame_000003.png"] == earlier["frame_000003.png"]
    assert names(tmp_path) == ["imgs", "p.json", "seq", "seq.partial"]


def framed(folder):
    return {p.name: digest(p) for p in sorted(folder.glob("frame_*"))}


def replaced_by_a_second_run(tmp_path, seq):
    """Three pictures into `seq`, then three others over them: the preset and the pictures of the second run,
    each of which replaced the first run's."""
    pictures(tmp_path / "imgs", 3)
    preset = folder_to_pictures(tmp_path, seq)
    assert run_cli("run", preset).returncode == 0
    earlier = framed(seq)
    pictures(tmp_path / "imgs", 3, shade=9)
    done = run_cli("run", preset)
    assert done.returncode == 0, done.stderr
    replaced = framed(seq)
    assert sorted(replaced) == sorted(earlier) and all(replaced[n] != earlier[n] for n in earlier)
    return preset, replaced


def test_a_folder_on_another_disk_than_its_parent_keeps_its_lock_and_staging_inside(tmp_path, small_disk):
    # the root of a USB stick: the staging folder beside it was on another disk, so a run that completed
    # failed to move its pictures in (exit 3) and left them hidden in the parent
    stick = small_disk("stick", "100m")
    preset, replaced = replaced_by_a_second_run(tmp_path, stick)
    assert names(tmp_path) == ["imgs", "p.json", "stick"] and names(stick) == sorted(replaced)

    pictures(tmp_path / "imgs", 3, bad=1, shade=20)  # a run that fails keeps its pictures in the stick
    failed = run_cli("run", preset)
    assert failed.returncode == 3, failed.stderr
    assert framed(stick) == replaced and names(stick / "stick.partial") == ["frame_000000.png"]
    assert names(tmp_path) == ["imgs", "p.json", "stick"]


def test_a_folder_whose_parent_is_not_writable_keeps_its_lock_and_staging_inside(tmp_path):
    # the root of a USB stick mounted in /media/USER, where the user may not write: the lock beside the folder
    # could not be made, and the run failed to start with an OSError
    parent = tmp_path / "media"
    seq = parent / "stick"
    seq.mkdir(parents=True)
    pictures(tmp_path / "imgs", 3)
    preset = folder_to_pictures(tmp_path, seq)
    command = without_permission_override([sys.executable, "-m", "nodegraph.cli", "run", str(preset)])
    parent.chmod(0o555)
    try:
        for shade in (0, 9):  # into an empty folder, then over the pictures of the first run
            pictures(tmp_path / "imgs", 3, shade=shade)
            result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                    env=repo_env())
            assert result.returncode == 0, result.stderr
            assert names(seq) == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    finally:
        parent.chmod(0o755)
    assert names(parent) == ["stick"]


def test_a_folder_bind_mounted_from_the_same_disk_keeps_its_staging_inside(tmp_path, bind_mount):
    # a bind mount shares its parent's device, yet a rename across it fails: the run over earlier pictures
    # stopped at its end with "OSError: [Errno 18] Invalid cross-device link" and left its pictures hidden
    source, seq = tmp_path / "source", tmp_path / "seq"
    source.mkdir()
    seq.mkdir()
    bind_mount(source, seq)
    _, replaced = replaced_by_a_second_run(tmp_path, seq)
    assert names(tmp_path) == ["imgs", "p.json", "seq", "source"] and names(seq) == sorted(replaced)


def test_a_restarted_writer_that_wrote_nothing_leaves_no_empty_folder_its_run_made(tmp_path, fault_nodes_env):  # noqa: F811
    # the restarted stage found the folder there, as if the user's: a Ctrl-C before any picture left it empty
    pictures(tmp_path / "imgs", 1)
    seq = tmp_path / "new" / "seq"
    source, dying, writer = (node("src", "ImageSource", path=str(tmp_path / "imgs" / "p0.jpg"), repeat=0, fps=0.1),
                             node("die", "DyingFrame", after=0), node("out", "ImageSequenceOutput", path=str(seq)))
    source["process"], dying["process"], writer["process"] = "a", "b", "b"
    preset = write_preset(tmp_path / "p.json", [source, dying, writer], [("src.frame", "die.frame"),
                                                                          ("die.frame", "out.frame")])
    process = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "run", str(preset)],
                               env=repo_env(fault_nodes_env), stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:  # the first writer dies at the first frame, before its picture; the next frame is 10 s away
        first = lock_holder(seq, time.monotonic() + 60, lambda held: held.run)[0]
        lock_holder(seq, time.monotonic() + 60, lambda held: held.run and int(held.pid) != first)
        os.killpg(process.pid, signal.SIGINT)
    finally:
        stderr = finish(process, timeout=60)
    assert process.returncode == 130, stderr
    assert "(nodes: die, out) died (killed by SIGKILL); restarting it" in stderr
    assert f"{seq}: this run made {seq} and {seq.parent} and wrote nothing into them, so they are removed" in stderr
    assert names(tmp_path) == ["imgs", "p.json", "site"]  # site: the fixture's node package


@pytest.mark.parametrize(("output_type", "name", "said"), [
    ("ImageSequenceOutput", "seq", "this run made {target} and {new} and wrote nothing into them, so they are removed"),
    ("VideoFileOutput", "out.mp4", "this run made {new} and wrote nothing into it, so it is removed")])
def test_a_writer_killed_before_it_wrote_leaves_no_empty_folder_its_run_made(tmp_path, fault_nodes_env,  # noqa: F811
                                                                           output_type, name, said):
    # lossless: the killed writer is not restarted and the run's rescue takes over its lock, which counts the
    # folders its run made; the rescue did not look at the count, and left them behind, empty
    pictures(tmp_path / "imgs", 1)
    there = tmp_path / "there"  # the user's: it stays
    there.mkdir()
    target = there / "new" / name
    dying, writer = node("die", "DyingFrame", after=0), node("out", output_type, path=str(target))
    dying["process"] = writer["process"] = "b"
    source = node("src", "ImageSource", path=str(tmp_path / "imgs" / "p0.jpg"))
    preset = write_preset(tmp_path / "p.json", [source, dying, writer],
                          [("src.frame", "die.frame"), ("die.frame", "out.frame")])
    result = subprocess.run([sys.executable, "-m", "nodegraph.cli", "run", str(preset), "--mode", "lossless"],
                            env=repo_env(fault_nodes_env), capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "(nodes: die, out) died (killed by SIGKILL)" in result.stderr
    assert f"nodegraph: {target}: {said.format(target=target, new=there / 'new')}" in result.stderr
    assert list(there.iterdir()) == []


@pytest.mark.parametrize(("output_type", "name"), [("ImageSequenceOutput", "seq"), ("VideoFileOutput", "out.mp4")])
def test_the_folders_a_run_killed_as_a_whole_made_go_with_the_next_run_that_writes_nothing(
        tmp_path, fault_nodes_env, output_type, name):  # noqa: F811
    # the next run found them there and took them for the user's: they stayed, empty, however it ended
    pictures(tmp_path / "imgs", 2)
    target = tmp_path / "new" / name
    slow, writer = node("slow", "SlowFrame", delay_ms=5000), node("out", output_type, path=str(target))
    slow["process"] = writer["process"] = "b"
    killed = write_preset(tmp_path / "killed.json", [node("src", "FolderSource", path=str(tmp_path / "imgs")), slow,
                                                     writer],
                          [("src.frame", "slow.frame"), ("slow.frame", "out.frame")])
    process = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "run", str(killed)],
                               env=repo_env(fault_nodes_env), stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:  # the writer holds its lock, and the first frame sleeps in `slow`
        lock_holder(target, time.monotonic() + 60, lambda held: held.made)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        finish(process, timeout=60)
    assert (tmp_path / "new").is_dir()

    pictures(tmp_path / "imgs", 2, bad=0)  # the next run stops at its first picture, having written nothing
    failing = write_preset(tmp_path / "p.json", [node("src", "FolderSource", path=str(tmp_path / "imgs"),
                                                      unreadable="stop"), node("out", output_type, path=str(target))],
                           [("src.frame", "out.frame")])
    result = run_cli("run", failing, "--sequential")
    assert result.returncode == 3, result.stderr
    made = (f"{target.parent} and wrote nothing into it, so it is" if output_type == "VideoFileOutput"
            else f"{target} and {target.parent} and wrote nothing into them, so they are")
    assert f"nodegraph: {target}: a run that was killed before this one made {made} removed" in result.stderr, \
        result.stderr
    assert names(tmp_path) == ["imgs", "killed.json", "p.json", "site"]
