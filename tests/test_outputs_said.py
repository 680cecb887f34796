"""A run says where each file output put what it wrote, as the video output says "holds 150 frames and plays"."""

from conftest import run_cli
from test_cli import node, write_preset


def test_the_pictures_and_the_faces_file_a_run_wrote_are_named_with_their_count(tmp_path):
    # face_debug.json ended with "done: 150 frames ...", and nothing said that the landmarks were in out/faces.jsonl
    seq, faces = tmp_path / "seq", tmp_path / "faces.jsonl"
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=64, height=48, frames=3), node("det", "FaceDetector"),
                           node("pictures", "ImageSequenceOutput", path=str(seq)),
                           node("file", "FacesFileOutput", path=str(faces))],
                          [("src.frame", "pictures.frame"), ("src.frame", "det.frame"), ("det.faces", "file.faces")])
    result = run_cli("run", preset, "--sequential", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (f"nodegraph: node 'pictures' (ImageSequenceOutput): {seq} holds 3 pictures (frame_000000.png to "
            "frame_000002.png)") in result.stderr.splitlines(), result.stderr
    said = result.stderr.splitlines()
    assert f"nodegraph: node 'file' (FacesFileOutput): {faces} holds the faces of 3 frames" in said
    assert len(faces.read_text().splitlines()) == 3
