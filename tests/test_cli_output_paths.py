"""The command line's refusals of output paths it cannot or must not write, and a long one it can."""
import json

from clips import read_frames
from conftest import run_cli
from test_cli import node, write_preset


def refused_to_write_into(tmp_path, picture, folder, said: str) -> None:
    """`nodegraph validate` and `run` of an ImageSource of `picture` written into `folder` as an image sequence
    both refuse it (exit 2), saying `said`."""
    preset = write_preset(tmp_path / "p.json", [node("src", "ImageSource", path=str(picture)),
                                               node("seq", "ImageSequenceOutput", path=str(folder))],
                          [("src.frame", "seq.frame")])
    for command in ("validate", "run"):
        result = run_cli(command, preset, cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert said in result.stdout + result.stderr, result.stdout + result.stderr


def test_an_image_sequence_folder_that_holds_an_input_is_refused(tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    first = shots / "frame_000000.png"
    first.write_bytes(b"the user's picture")
    refused_to_write_into(tmp_path, first, shots, f"{shots} holds the input of node 'src' (path: {first}); the "
                          "files written into it could replace it: choose another folder")
    assert first.read_bytes() == b"the user's picture" and [p.name for p in shots.iterdir()] == ["frame_000000.png"]


def test_an_image_sequence_folder_that_holds_an_input_through_a_link_is_refused(tmp_path):
    # the picture the run reads lies in the folder it writes, reached through a link to the file, a link to a
    # folder followed by "..", or links in a folder the run reads: each was overwritten, with exit 0
    shots = tmp_path / "shots"
    (shots / "deeper").mkdir(parents=True)
    first = shots / "frame_000000.png"
    first.write_bytes(b"the user's picture")
    (tmp_path / "portrait.png").symlink_to(first)
    (tmp_path / "into").symlink_to(shots / "deeper")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "shot.png").symlink_to(first)
    said = "the files written into it could replace it: choose another folder"
    for source, path, problem in (
            ("ImageSource", tmp_path / "portrait.png", f"holds the input of node 'src' (path: {tmp_path}/portrait"),
            ("ImageSource", f"{tmp_path}/into/../frame_000000.png", "holds the input of node 'src'"),
            ("FolderSource", tmp_path / "linked", f"holds the file that {tmp_path}/linked/shot.png links to, an "
                                                  f"input of node 'src' (path: {tmp_path}/linked)")):
        preset = write_preset(tmp_path / "p.json", [node("src", source, path=str(path)),
                                                    node("seq", "ImageSequenceOutput", path=str(shots))],
                              [("src.frame", "seq.frame")])
        result = run_cli("validate", preset, cwd=tmp_path)
        assert result.returncode == 2 and f"{shots} {problem}" in result.stdout and said in result.stdout, \
            result.stdout
    assert first.read_bytes() == b"the user's picture"


def test_an_image_sequence_folder_that_is_a_bind_mount_of_the_inputs_folder_is_refused(tmp_path, bind_mount):
    # the folders were told apart by their real paths, which a bind mount does not share: the run replaced the
    # picture it read (where the mount's files were on another disk than its parent, so none was staged beside)
    shots, bound = tmp_path / "shots", tmp_path / "bound"
    shots.mkdir()
    bound.mkdir()
    first = shots / "frame_000000.png"
    first.write_bytes(b"the user's picture")
    bind_mount(shots, bound)
    refused_to_write_into(tmp_path, first, bound, f"{bound} holds the input of node 'src' (path: {first})")
    assert first.read_bytes() == b"the user's picture" and [p.name for p in shots.iterdir()] == ["frame_000000.png"]


def test_a_nul_character_in_an_output_path_is_refused_by_name(tmp_path, clip300):
    # JSON can hold "\u0000", which no OS path can: it must be a named problem, not a traceback
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=clip300),
                                                node("out", "VideoFileOutput", path=str(tmp_path / "o\x00ut.mp4"))],
                          [("src.frame", "out.frame")])
    for command in ("validate", "run"):
        result = run_cli(command, preset, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert ("node 'out' (VideoFileOutput), param 'path': a path may not contain NUL characters"
                in result.stdout + result.stderr)
        assert "Traceback" not in result.stderr


def test_an_output_name_near_the_file_system_limit_is_written(tmp_path, clip300):
    # the hidden temporary name beside it added ~20 characters and failed the run at its end
    out = tmp_path / ("o" * 236 + ".mp4")
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=clip300),
                                                node("out", "VideoFileOutput", path=str(out))],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--frames", "3", "--stats-json", tmp_path / ("s" * 245 + ".json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(read_frames(out)) == 3
    long_extension = tmp_path / ("stats." + "j" * 240)  # the extension is kept in the temporary name too
    result = run_cli("run", preset, "--frames", "3", "--stats-json", long_extension, cwd=tmp_path)
    assert result.returncode == 0 and json.loads(long_extension.read_text())["frames"] == 3, result.stderr
