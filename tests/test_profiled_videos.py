"""Videos whose frames carry a colour profile (PNG or Motion JPEG in a MOV or AVI, as screen recorders and
editors write them): PyAV 18 frees twice the side data of a frame whose ICC profile has a name, so reading it
for the display matrix killed the process (SIGSEGV) once the frame was collected."""

import subprocess

import cv2
import pytest
from conftest import REPO, run_cli
from test_bad_media import ffmpeg, needs_ffmpeg, preset_file, written

PORTRAIT = REPO / "presets/media/astronaut.png"  # carries a named ICC profile


@needs_ffmpeg
@pytest.mark.parametrize("codec, name", [("png", "png.mov"), ("mjpeg", "mjpeg.avi")])
@pytest.mark.parametrize("engine", [["--sequential"], []], ids=["sequential", "multiprocess"])
def test_a_video_whose_frames_carry_a_colour_profile_runs_to_its_end(tmp_path, codec, name, engine):
    # PNG frames in a MOV: the sequential run died with exit 139 after its summary line, and the multiprocess
    # run's source stage died at its end, leaving its shared memory to Python's resource tracker
    video = tmp_path / name
    pixels = ["-pix_fmt", "yuvj420p"] if codec == "mjpeg" else []
    ffmpeg("-loop", "1", "-i", PORTRAIT, "-frames:v", "5", "-c:v", codec, *pixels, video)
    # the frames do hold a profile (asked of ffprobe: reading it here would kill this process)
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
                            "-show_entries", "frame_side_data=side_data_type", "-of", "csv", str(video)],
                           capture_output=True, text=True, timeout=60, check=True)
    assert "ICC profile" in probe.stdout
    result = run_cli("run", preset_file(tmp_path, "VideoSource", video), *engine)
    assert result.returncode == 0, result.stderr
    assert "leaked shared_memory" not in result.stderr, result.stderr
    assert len(written(tmp_path)) == 5 and cv2.imread(str(written(tmp_path)[0])).shape == (512, 512, 3)
