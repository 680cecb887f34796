"""Every kind of bad media a user may feed in: handled, or refused with the file and the problem named."""

import itertools
import json
import os
import shutil
import struct
import subprocess

import av
import cv2
import numpy as np
import pytest
from clips import frame_index, indexed_frame, read_frames, write_clip
from conftest import REPO, run_cli

from nodegraph.errors import InvalidInput
from nodes.frame_count import frame_timestamps
from nodes.video_read import VideoReader


def preset_file(tmp_path, source_type, source_path, **source_params):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({
        "format": "nodegraph-preset", "version": 1, "name": "t", "description": "",
        "nodes": [
            {"id": "src", "type": source_type, "params": {"path": str(source_path), **source_params}},
            {"id": "out", "type": "ImageSequenceOutput", "params": {"path": str(tmp_path / "seq")}},
        ],
        "links": [{"from": "src.frame", "to": "out.frame"}],
    }))
    return path


def run(tmp_path, source_type, source_path, **params):
    return run_cli("run", preset_file(tmp_path, source_type, source_path, **params), "--sequential")


def written(tmp_path):
    return sorted((tmp_path / "seq").glob("frame_*.png"))


def test_missing_file(tmp_path):
    result = run(tmp_path, "VideoSource", tmp_path / "nothing.mp4")
    assert result.returncode == 2
    assert f"file not found: {tmp_path / 'nothing.mp4'}" in result.stderr


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    result = run(tmp_path, "VideoSource", tmp_path / "empty.mp4")
    assert result.returncode == 2
    assert f"{tmp_path / 'empty.mp4'}: the file is empty (0 bytes)" in result.stderr


def test_text_file_named_mp4(tmp_path):
    (tmp_path / "notes.mp4").write_text("these are my notes, not a video\n" * 20)
    result = run(tmp_path, "VideoSource", tmp_path / "notes.mp4")
    assert result.returncode == 2
    assert f"nodegraph: node 'src' (VideoSource): {tmp_path / 'notes.mp4'}: not a video PyAV can open" in result.stderr
    assert result.stderr.count("node 'src'") == 1  # named once, not once by the node and again by its setup's caller


def test_a_bad_file_opened_twice_gives_ffmpegs_reason_both_times(tmp_path):
    """PyAV drops a log line that repeats the last one; the second open (a run opens its source in the check
    and again in setup, in one process or another) must still say why."""
    (tmp_path / "notes.mp4").write_text("these are my notes, not a video\n" * 20)
    reasons = []
    for _ in range(2):
        with pytest.raises(InvalidInput) as error:
            VideoReader(str(tmp_path / "notes.mp4"))
        reasons.append(str(error.value))
    assert reasons[0] == reasons[1] and "moov atom not found" in reasons[1]


def test_truncated_mp4_is_refused(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=60)
    data = open(clip, "rb").read()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: gone
    result = run(tmp_path, "VideoSource", tmp_path / "cut.mp4")
    assert result.returncode == 2
    assert str(tmp_path / "cut.mp4") in result.stderr


def test_truncated_avi_keeps_the_frames_it_has(tmp_path):
    clip = write_clip(tmp_path / "clip.avi", frames=60, codec="MJPG")
    data = open(clip, "rb").read()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    result = run(tmp_path, "VideoSource", tmp_path / "cut.avi")
    assert result.returncode == 0, result.stderr
    frames = [cv2.imread(str(p)) for p in written(tmp_path)]
    assert 10 < len(frames) < 60
    assert [frame_index(f) for f in frames] == list(range(len(frames)))
    assert f"{tmp_path / 'cut.avi'}: ended at frame {len(frames)} of the 60 its header gives" in result.stderr


@pytest.mark.parametrize("kind", ["gray", "gray16", "rgba", "bgr16"])
def test_unusual_pixel_formats_become_bgr(tmp_path, kind):
    base = indexed_frame(5)
    image = {
        "gray": cv2.cvtColor(base, cv2.COLOR_BGR2GRAY),
        "gray16": cv2.cvtColor(base, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257,
        "rgba": cv2.cvtColor(base, cv2.COLOR_BGR2BGRA),
        "bgr16": base.astype(np.uint16) * 257,
    }[kind]
    cv2.imwrite(str(tmp_path / "in.png"), image)
    result = run(tmp_path, "ImageSource", tmp_path / "in.png")
    assert result.returncode == 0, result.stderr
    out = cv2.imread(str(written(tmp_path)[0]), cv2.IMREAD_UNCHANGED)
    assert out.shape == (120, 160, 3) and out.dtype == np.uint8
    expected = base if kind in ("rgba", "bgr16") else cv2.cvtColor(image if kind == "gray" else
                                                                    (image >> 8).astype(np.uint8),
                                                                    cv2.COLOR_GRAY2BGR)
    assert np.abs(out.astype(int) - expected).max() <= 1


def exif_orientation(value: int) -> bytes:
    """EXIF (a little-endian TIFF block) holding only the Orientation tag (0x0112)."""
    return b"II*\x00" + (8).to_bytes(4, "little") + (1).to_bytes(2, "little") + \
        (0x0112).to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(4, "little") + \
        value.to_bytes(2, "little") + bytes(2) + bytes(4)


def test_a_phone_photo_stored_sideways_is_turned_as_its_exif_says(tmp_path):
    # Orientation 6: the pixels are stored turned 90 degrees left; viewers, and OpenCV's imread, turn them back
    upright = indexed_frame(7)
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    ok, data = cv2.imencodeWithMetadata(".jpg", stored, [cv2.IMAGE_METADATA_EXIF],
                                            [np.frombuffer(exif_orientation(6), np.uint8)])
    assert ok
    (tmp_path / "phone.jpg").write_bytes(data.tobytes())
    assert cv2.imread(str(tmp_path / "phone.jpg")).shape == (120, 160, 3)  # the EXIF is in the file
    result = run(tmp_path, "ImageSource", tmp_path / "phone.jpg")
    assert result.returncode == 0, result.stderr
    out = cv2.imread(str(written(tmp_path)[0]))
    assert out.shape == (120, 160, 3) and frame_index(out) == 7


def test_8k_frame_is_scaled_to_max_size(tmp_path):
    big = cv2.resize(indexed_frame(3), (7680, 4320), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(tmp_path / "8k.png"), big)
    result = run(tmp_path, "ImageSource", tmp_path / "8k.png")
    assert result.returncode == 0, result.stderr
    out = cv2.imread(str(written(tmp_path)[0]))
    assert out.shape == (2304, 4096, 3)
    assert frame_index(cv2.resize(out, (160, 120), interpolation=cv2.INTER_AREA)) == 3


def test_a_picture_with_a_colour_profile_given_as_a_video_ends_its_run_cleanly(tmp_path):
    # astronaut.png carries an ICC profile: PyAV 18 frees a frame's side data twice, so reading it for the
    # display matrix made every run from such a picture die with SIGSEGV after its summary line
    portrait = REPO / "presets/media/astronaut.png"
    assert b"iCCP" in portrait.read_bytes()[:4096]
    result = run(tmp_path, "VideoSource", portrait)
    assert result.returncode == 0, result.stderr
    assert len(written(tmp_path)) == 1 and cv2.imread(str(written(tmp_path)[0])).shape == (512, 512, 3)


def test_not_a_picture_is_refused_naming_the_node_in_either_runner(tmp_path):
    (tmp_path / "fake.png").write_text("hello")
    preset = preset_file(tmp_path, "ImageSource", tmp_path / "fake.png")
    for engine in (["--sequential"], []):
        result = run_cli("run", preset, *engine)
        assert result.returncode == 2
        assert f"nodegraph: node 'src' (ImageSource): {tmp_path / 'fake.png'}: not a picture" in result.stderr


def test_folder_of_mixed_sizes_fits_each_into_the_first_size_unstretched(tmp_path):
    # a 5:4 picture in a 4:3 stream: scaled to 150x120 and padded with 5 black columns each side, where it was
    # stretched to 160x120 (faces too)
    folder = tmp_path / "pics"
    folder.mkdir()
    for i, size in enumerate([(160, 120), (320, 240), (100, 80)]):
        cv2.imwrite(str(folder / f"img{i + 1}.png"), cv2.resize(indexed_frame(i), size))
    (folder / "readme.txt").write_text("not a picture")
    (folder / "._img1.png").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")  # stopped the run part-way
    result = run(tmp_path, "FolderSource", folder)
    assert result.returncode == 0, result.stderr
    assert ("img2.png is 320x240 where the first picture is 160x120: pictures of another size are scaled to fit "
            "and padded with black") in result.stderr
    frames = [cv2.imread(str(p)) for p in written(tmp_path)]
    assert [f.shape for f in frames] == [(120, 160, 3)] * 3
    assert frames[1][:, :5].any() and frames[1][:, -5:].any()  # the same shape: scaled, no bars
    assert not frames[2][:, :5].any() and not frames[2][:, -5:].any()
    fitted = cv2.resize(cv2.imread(str(folder / "img3.png")), (150, 120), interpolation=cv2.INTER_LINEAR)
    assert np.abs(frames[2][:, 5:155].astype(int) - fitted).mean() < 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(tmp_path, "FolderSource", empty)
    assert result.returncode == 2 and f"nodegraph: node 'src' (FolderSource): {empty}: no pictures in this folder" \
        in result.stderr, result.stderr


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *map(str, args)], check=True, timeout=60)


@needs_ffmpeg
def test_video_whose_frame_size_changes(tmp_path):
    write_clip(tmp_path / "a.avi", frames=20, codec="MJPG")
    writer = cv2.VideoWriter(str(tmp_path / "b.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for i in range(20, 40):
        writer.write(cv2.resize(indexed_frame(i), (320, 240), interpolation=cv2.INTER_NEAREST))
    writer.release()
    (tmp_path / "list.txt").write_text("file 'a.avi'\nfile 'b.avi'\n")
    ffmpeg("-f", "concat", "-safe", "0", "-i", tmp_path / "list.txt", "-c", "copy", tmp_path / "mixed.mkv")
    result = run(tmp_path, "VideoSource", tmp_path / "mixed.mkv")
    assert result.returncode == 0, result.stderr
    frames = [cv2.imread(str(p)) for p in written(tmp_path)]
    assert len(frames) == 40
    assert all(f.shape == (120, 160, 3) for f in frames)
    assert [frame_index(f) for f in frames] == list(range(40))


@needs_ffmpeg
def test_variable_frame_rate_video(tmp_path):
    source = write_clip(tmp_path / "cfr.avi", frames=60, codec="MJPG")
    # Timestamps that stretch and shrink: a genuinely variable frame rate.
    ffmpeg("-i", source, "-vf", "setpts='N/30/TB + if(gt(N,30), (N-30)/60/TB, 0)'", "-fps_mode", "vfr",
           "-c:v", "mjpeg", "-q:v", "2", tmp_path / "vfr.mkv")
    result = run(tmp_path, "VideoSource", tmp_path / "vfr.mkv")
    assert result.returncode == 0, result.stderr
    frames = [cv2.imread(str(p)) for p in written(tmp_path)]
    assert [frame_index(f) for f in frames] == list(range(60))
    assert len(read_frames(tmp_path / "vfr.mkv")) == 60


def atoms(data: bytes, start: int, end: int):
    """(start, kind, size) of each MP4 atom between `start` and `end`."""
    while start < end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        yield start, kind, size
        start += size


def cover_listed_first(source, cover, target):
    """An MP4 of `source` whose cover picture is listed before the video, as some taggers write it: FFmpeg's
    muxer puts the cover's user-data atom after the track, so move it in front."""
    ffmpeg("-i", cover, "-i", source, "-map", "0", "-map", "1", "-c:v:0", "png", "-c:v:1", "mjpeg", "-q:v", "2",
           "-disposition:v:0", "attached_pic", target)
    data = target.read_bytes()
    moov, _, size = next(atom for atom in atoms(data, 0, len(data)) if atom[1] == b"moov")
    children = sorted(atoms(data, moov + 8, moov + size), key=lambda a: {b"mvhd": 0, b"udta": 1}.get(a[1], 2))
    target.write_bytes(data[:moov + 8] + b"".join(data[at:at + n] for at, _, n in children) + data[moov + size:])
    return target


@needs_ffmpeg
def test_a_cover_picture_listed_before_the_video_is_not_read_as_the_video(tmp_path):
    # the cover was taken as the video: a 1-frame run that exited 0
    cv2.imwrite(str(tmp_path / "cover.png"), np.full((90, 90, 3), 200, np.uint8))
    clip = cover_listed_first(write_clip(tmp_path / "c.avi", frames=40, codec="MJPG"), tmp_path / "cover.png",
                              tmp_path / "covered.mp4")
    with av.open(str(clip)) as container:
        assert container.streams.video[0].disposition & av.stream.Disposition.attached_pic  # the case made
    assert len(frame_timestamps(str(clip))) == 40
    result = run(tmp_path, "VideoSource", clip)
    assert result.returncode == 0, result.stderr
    assert [frame_index(cv2.imread(str(p))) for p in written(tmp_path)] == list(range(40))
    ffmpeg("-i", tmp_path / "cover.png", "-c:v", "png", "-disposition:v:0", "attached_pic", "-f", "mp4",
           tmp_path / "only_cover.mp4")
    result = run(tmp_path, "VideoSource", tmp_path / "only_cover.mp4")
    assert result.returncode == 2
    assert (f"node 'src' (VideoSource): {tmp_path / 'only_cover.mp4'}: has no video stream (it holds cover "
            "picture)") in result.stderr


@needs_ffmpeg
def test_a_clip_whose_title_is_not_utf8_plays(tmp_path):
    # PyAV before 19 refuses to open it unless told to replace what does not decode (the output's reading of
    # the source was not told: its set-up failed); PyAV 19 refuses that argument: no video opened there
    clip = tmp_path / "latin1.mp4"
    ffmpeg("-i", write_clip(tmp_path / "plain.mp4", frames=12), "-c", "copy", "-metadata", "title=caf\udce9", clip)
    reader = VideoReader(str(clip))
    assert [frame_index(frame) for frame, _ in iter(reader.read, None)] == list(range(12))
    reader.close()
    preset = json.loads(preset_file(tmp_path, "VideoSource", clip).read_text())
    preset["nodes"][1] = {"id": "out", "type": "VideoFileOutput", "params": {"path": str(tmp_path / "out.mp4")}}
    (tmp_path / "p.json").write_text(json.dumps(preset))  # the output reads the source's times (and audio)
    result = run_cli("run", tmp_path / "p.json", "--sequential")
    assert result.returncode == 0, result.stderr
    assert [frame_index(frame) for frame in read_frames(tmp_path / "out.mp4")] == list(range(12))


@needs_ffmpeg
def test_a_clip_cut_without_re_encoding_starts_at_the_frame_asked_for(tmp_path):
    # `-ss 1.3 -c copy` keeps the frames from the keyframe before the cut, hidden by an edit list: they were
    # counted, so `start: 5` began at the first frame shown and the farm split 110 frames where 77 play
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "6", "-c:v", "libx264", "-g", "50",
           "-bf", "2", tmp_path / "long.mp4")
    ffmpeg("-ss", "1.3", "-i", tmp_path / "long.mp4", "-c", "copy", "-t", "3", tmp_path / "cut.mp4")
    clip = str(tmp_path / "cut.mp4")
    whole = read_frames(clip)
    assert len(frame_timestamps(clip)) == len(whole) == 77
    assert VideoReader(clip).frames == 77  # the progress bar's total, from the start too
    reader = VideoReader(clip, start=5)
    frames = list(iter(lambda: reader.read(), None))
    reader.close()
    assert reader.frames == len(frames) == 72
    assert all(np.array_equal(frame, shown) for (frame, _), shown in zip(frames, whole[5:], strict=True))


def test_a_damaged_packet_mid_video_is_skipped_and_the_rest_is_read(tmp_path):
    # decoding stopped at the first damaged packet: about half the frames, exit 0
    write_clip(tmp_path / "clip.mp4", frames=100, codec="h264")  # PyAV's own x264: the same bytes everywhere
    data = bytearray((tmp_path / "clip.mp4").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2000] = bytes(range(256)) * 7 + bytes(208)
    (tmp_path / "damaged.mp4").write_bytes(data)
    result = run(tmp_path, "VideoSource", tmp_path / "damaged.mp4")
    assert result.returncode == 0, result.stderr
    assert len(written(tmp_path)) >= 80  # all but the few the damage hides (here 89; it stopped at 49)
    assert f"{tmp_path / 'damaged.mp4'}: " in result.stderr and "damaged packets skipped" in result.stderr


def test_a_picture_in_a_folder_that_cannot_be_read_is_skipped_and_named(tmp_path):
    # one damaged picture stopped the run part-way, after the frames before it
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"shot{i}.png"), indexed_frame(i))
    (folder / "shot2.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short by a full card")
    result = run(tmp_path, "FolderSource", folder)
    assert result.returncode == 0, result.stderr
    assert f"node 'src' (FolderSource): {folder / 'shot2.png'}: not a picture OpenCV can decode" in result.stderr
    assert "; skipped" in result.stderr
    assert [frame_index(cv2.imread(str(p))) for p in written(tmp_path)] == [0, 1, 3, 4]


def test_recordings_joined_end_to_end_keep_going_forward_in_time(tmp_path):
    # MPEG-TS recordings joined with `cat` start their times again: the output put both halves in the first
    # half's second, two frames a millisecond apart, and a paced source would have skipped the rest
    segment = tmp_path / "segment.ts"
    write_clip(segment, frames=30, codec="h264")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(segment.read_bytes() * 2)
    reader = VideoReader(str(joined))
    times = []
    while (decoded := reader.read()) is not None:
        times.append(decoded[1])
    reader.close()
    assert len(times) == 60 and all(b - a > 0.03 for a, b in itertools.pairwise(times))
    preset = preset_file(tmp_path, "VideoSource", joined)
    spec = json.loads(preset.read_text())
    spec["nodes"][1] = {"id": "out", "type": "VideoFileOutput", "params": {"path": str(tmp_path / "out.mp4")}}
    preset.write_text(json.dumps(spec))
    assert run_cli("run", preset).returncode == 0
    with av.open(str(tmp_path / "out.mp4")) as container:
        written = [(frame_index(frame.to_ndarray(format="bgr24")), float(frame.time))
                   for frame in container.decode(video=0)]
    assert [index for index, _ in written] == list(range(30)) * 2
    assert all(abs(seconds - n / 30) < 0.002 for n, (_, seconds) in enumerate(written)), written


def test_a_display_rotation_that_is_not_a_quarter_turn_is_said_and_not_applied(tmp_path, caplog):
    turned = tmp_path / "turned.mp4"
    with av.open(str(turned), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "bgr0"
        stream.set_display_rotation(45)
        for i in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")))
        container.mux(stream.encode(None))
    with caplog.at_level("WARNING", logger="nodegraph"):
        reader = VideoReader(str(turned))
        frames = [reader.read()[0] for _ in range(3)]
        reader.close()
    assert [frame_index(frame) for frame in frames] == [0, 1, 2] and frames[0].shape == (120, 160, 3)
    said = [r.getMessage() for r in caplog.records if "display rotation" in r.getMessage()]
    assert said == [f"{turned}: its display rotation (45 degrees, as ffprobe gives it) is not a quarter turn, and "
                    "is not applied: it is read as stored"]


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_an_input_that_is_a_device_or_a_pipe_is_said_to_be_no_file_not_empty(tmp_path, kind):
    from nodegraph import preset
    from nodegraph.registry import default_registry
    from nodes.media import check_readable_file

    source = "/dev/zero" if kind == "device" else str(tmp_path / "fifo")
    if kind == "fifo":
        os.mkfifo(source)
    said = f"{source}: is not a regular file (a device, a pipe or a socket); give a file"
    problems = [str(p) for p in preset.load(preset_file(tmp_path, "VideoSource", source)).validate(default_registry())]
    assert f"node 'src' (VideoSource), param 'path': {said}" in problems, problems
    with pytest.raises(InvalidInput) as e:
        check_readable_file(source)
    assert str(e.value) == said
