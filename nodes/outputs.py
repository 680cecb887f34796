"""Generic outputs: video files, numbered picture sequences, and a sink that keeps nothing."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path as FsPath

import av
import cv2

from nodegraph.errors import InvalidInput, Problem, RunFailed
from nodegraph.made_folders import MIN_FREE_BYTES, check_writable_folder, free_bytes, remove_made_folders
from nodegraph.node import Node
from nodegraph.output_checks import check_not_an_input
from nodegraph.output_files import OutputFile, write_atomically
from nodegraph.output_folders import OutputFolder
from nodegraph.params import Bool, Choice, Float, Int, Path
from nodegraph.types import Frame

from .frame_count import count_frames
from .media import check_utf8_path
from .source_times import SourceTimes
from .video_io import CODECS, CONTAINERS, REFUSED_HINT, SPEEDS, VideoWriter, check_container, check_encoder

log = logging.getLogger("nodegraph")

# the codec names of the OpenCV writer this node had before PyAV, so that presets saved then still load
OPENCV_CODECS = {"avc1": "h264", "XVID": "mp4v", "FFV1": "ffv1", "MJPG": "h264"}
SYNTHETIC_TAG = "synthetic: made with nodegraph (face swap)"  # the `comment` tag of disclosed videos


class DiskGuard:
    """Checks the free space now and then while writing; raises RunFailed before it runs out."""

    def __init__(self, folder: FsPath, what: str, every: int = 30):
        self.folder, self.what, self.every, self.count = folder, what, every, 0

    def check(self) -> None:
        self.count += 1
        if self.count % self.every:
            return
        try:
            free = free_bytes(self.folder)
        except OSError as e:  # removed or unmounted while written
            raise RunFailed(f"{self.what}: cannot read its folder {self.folder}: {e.strerror or e}") from None
        if free is not None and free < MIN_FREE_BYTES // 2:
            raise RunFailed(f"{self.what}: the disk is almost full; stopped writing so the file stays playable")


class VideoFileOutput(Node):
    """Writes the frames to a video file, with the source's audio and a tag marking it as synthetic.

    The file is written under a temporary name in its folder and renamed into place when closed; MP4 and MOV
    are fragmented (a keyframe and an index every second), so a file cut short by a kill or a full disk
    plays up to its last second. A run that did not complete (a failure, a stop) never replaces a file
    already there: what it wrote goes beside it (`NAME.partial.EXT`)."""

    category = "Output"
    restartable = False  # a restarted stage would reopen the file and truncate what was written
    inputs = {"frame": Frame}
    params = {
        "path": Path(role="output", extensions=list(CONTAINERS), help="the video file to write"),
        "codec": Choice(list(CODECS), default="h264", help="; ".join(f"{k}: {v[3]}" for k, v in CODECS.items()),
                        renamed=OPENCV_CODECS),
        "quality": Int(0, 51, default=23, help="0 best .. 51 smallest file (x264's CRF scale; 18 looks lossless "
                                              "to most eyes); ffv1 is always lossless"),
        "speed": Choice(SPEEDS, default="ultrafast", help="encoder speed preset: faster gives larger files at the "
                                                        "same quality"),
        "hardware": Bool(False, help="use the GPU's encoder (NVENC, VideoToolbox, QSV) when there is one"),
        "fps": Float(0.0, 240.0, default=0.0, help="frames per second of the file, constant; 0 keeps the source "
                                                   "video's timing (a variable frame rate too)"),
        "keep_audio": Bool(True, help="copy the source video's audio track into the file (with fps set, the "
                                      "frames a realtime run drops put it out of step)"),
        "disclose": Bool(True, help=f"tag the file as synthetic (metadata comment '{SYNTHETIC_TAG}')"),
        "skip_first": Int(0, 100_000_000, default=0, help="frames received but not written: the warm-up that "
                                                         "`nodegraph farm` runs before each chunk"),
    }
    heavy = True
    cost_ms = 3.0  # libx264 ultrafast at 640x480 on one core; larger frames cost more

    @classmethod
    def check(cls, params, base_dir):
        """A codec the file's container cannot hold, said by `validate` too, not only when a run starts."""
        problems = super().check(params, base_dir)
        extension = FsPath(params["path"]).suffix.lower()
        if extension in CONTAINERS:
            try:
                check_container(params["codec"], extension, params["path"])
            except InvalidInput as e:
                problems.append(Problem(str(e), param="codec"))
        return problems

    def setup(self):
        target = FsPath(self.path)
        if target.is_dir():
            raise InvalidInput(f"{self.path}: is a folder; give a file name such as {target / 'out.mp4'}")
        if target.suffix.lower() not in CONTAINERS:
            raise InvalidInput(f"{self.path}: the file type comes from the extension: end the name with one of "
                               f"{', '.join(CONTAINERS)}")
        check_utf8_path(self.path)
        made = check_writable_folder(target.parent, self.path)
        fps = self.fps or self.stream.fps or 30.0
        try:  # what needs the folder
            check_not_an_input(self.path, [self.stream.media], self.path)
            check_encoder(self.codec, target.suffix.lower(), fps, self.path)
        except BaseException:
            remove_made_folders(target.parent, made, self.path)
            raise
        self._guard = DiskGuard(target.parent, self.path)
        self.file = OutputFile(target, self.path, made=made)  # which removes them when it is refused
        self._open_writer(target, fps)

    def _open_writer(self, target: FsPath, fps: float) -> None:
        """The writer of the file; a failure gives the file up (`OutputFile.release`)."""
        audio_from = self.stream.media if self.keep_audio and self.stream.media else None
        try:
            times = SourceTimes(self.stream.media, self.stream.media_start, fps) \
                if self.stream.media and not self.fps else None
            self.writer = VideoWriter(str(self.file.temporary), target.suffix.lower(), self.codec, fps,
                                      self.quality, self.speed, self.hardware, audio_from,
                                      SYNTHETIC_TAG if self.disclose else None, self.path, self.stream.media_start,
                                      times)
        except BaseException:
            self.file.release(discard=True)
            raise

    @staticmethod
    def describe_partial(path: str) -> str:
        """What a file left by a killed writer holds (the run says it after putting the file in place)."""
        held = count_frames(path)
        return f"it holds {held} frame{'s' * (held != 1)} (up to its last whole fragment)"

    def process(self, frame):
        if self.frame_id < self.skip_first:
            return {}
        try:
            self._guard.check()
        except RunFailed as e:
            raise RunFailed(f"{e}: {self._finish(complete=False)}") from None
        try:
            self.writer.write(frame, self.frame_id)
        except OSError as e:  # the disk filled faster than the guard looks
            raise RunFailed(f"{self.path}: cannot write: {e.strerror or e}; {self._finish(complete=False)}") from None
        except av.FFmpegError as e:  # the muxer refused the file: every later frame would fail the same way
            raise RunFailed(f"{self.path}: FFmpeg cannot write this file ({e}); {REFUSED_HINT}; "
                            f"{self._finish(complete=False)}") from None
        return {}

    def _finish(self, complete: bool) -> str:
        """Close the file and put it in place; says how that went."""
        unclosed = self._close_writer()
        return unclosed + self._place(complete and not unclosed)

    def _place(self, complete: bool) -> str:
        """Put the closed file in place (beside a file already there unless the run was `complete`); says where
        and how many frames it holds, counted from the file."""
        if not self.file.temporary.exists():  # removed while written, alone or with its folder
            self.file.release()
            return (f"the file it was written into, {self.file.temporary}, was removed while the run wrote it, so "
                    "what it wrote is lost; write into a folder that nothing else removes or unmounts")
        held = count_frames(str(self.file.temporary))
        if held == 0:  # nothing playable: a file already there must not be replaced by it, nor kept beside it
            there = self.file.target.exists()
            self.file.release(discard=True)
            return f"no frame was written, so {self.path} " + ("is left as it was" if there else "was not made")
        kept = self.file.commit(complete)
        beside = "" if kept == self.file.target else f" (the file already at {self.path} is left as it was)"
        return f"{kept} holds {held} frame{'s' * (held != 1)} and plays{beside}"

    def _close_writer(self) -> str:
        """Flush and close the file: "" when it closed whole, else why not (it keeps its whole fragments)."""
        writer, self.writer = self.writer, None
        try:
            writer.close()
        except (OSError, av.FFmpegError) as e:
            return f"closing it failed ({getattr(e, 'strerror', None) or e}), so its end is missing; "
        return ""

    def close(self):
        writer = getattr(self, "writer", None)
        if writer is None:
            return
        if writer.frames == 0:
            with contextlib.suppress(OSError, av.FFmpegError):
                writer.close()
            self.writer = None
            self.file.release(discard=True)  # nothing written: a file already there stays as it was
            return
        unclosed = self._close_writer()
        lost = not self.file.temporary.exists()
        said = self._place(self.stream_complete and not unclosed)
        if unclosed or lost:  # a run that ran to its end still failed: its file lacks the end, or is gone
            raise RunFailed(f"{self.path}: {unclosed}{said}")
        log.info("node '%s' (VideoFileOutput): %s", self.id, said)


class ImageSequenceOutput(Node):
    """Writes every frame as a numbered picture (frame id in the name) into a folder; each picture appears
    whole or not at all. Into a folder that holds pictures already, a run that does not complete replaces
    none: its pictures are kept beside it (`NAME.partial`; see `OutputFolder`)."""

    category = "Output"
    inputs = {"frame": Frame}
    params = {
        "path": Path(role="output", folder=True, help="the folder to write into"),
        "format": Choice(["png", "jpg", "bmp", "tif"], default="png", help="png and tif are lossless"),
        "jpeg_quality": Int(1, 100, default=95, help="for jpg only"),
    }
    heavy = True
    cost_ms = 8.0

    @staticmethod
    def files_in_folder(values: dict) -> str:
        """The glob of the pictures it writes (an editor run gives a folder holding some a new name)."""
        return f"frame_*.{values['format']}"

    def setup(self):
        self.folder = FsPath(self.path)
        if self.folder.exists() and not self.folder.is_dir():
            raise InvalidInput(f"{self.path}: is a file; give a folder to write the pictures into")
        made = check_writable_folder(self.folder, self.path)
        self._guard = DiskGuard(self.folder, self.path)
        self._flags = [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality] if self.format == "jpg" else []
        self._output = OutputFolder(self.folder, self.files_in_folder({"format": self.format}), self.stream.run,
                                    self.path, made)

    def process(self, frame):
        self._guard.check()
        name = self._output.where / f"frame_{self.frame_id:06d}.{self.format}"
        ok, data = cv2.imencode(f".{self.format}", frame, self._flags)
        if not ok:
            raise RunFailed(f"{name}: could not encode the frame as {self.format}")
        try:
            write_atomically(name, data)
        except OSError as e:
            raise RunFailed(f"{name}: cannot write: {e.strerror or e}; {self._fate_of_written()}") from None
        return {}

    def _fate_of_written(self) -> str:
        """What became of the pictures written before one that could not be."""
        where = self._output.where
        if where.is_dir():
            written = any(p.is_file() for p in where.glob(f"frame_*.{self.format}"))
            return "the pictures before it are whole" if written else "no picture was written before it"
        return (f"the folder it wrote into, {where}, was removed while the run wrote into it, so the pictures it "
                "wrote there are lost; write into a folder that nothing else removes or unmounts")

    def close(self):
        output = getattr(self, "_output", None)
        if output is None:
            return
        staged = output.staging is not None
        output.close(self.stream_complete)
        if staged and not self.stream_complete:
            return  # kept beside the folder, which the log has said
        pictures = sorted(path.name for path in self.folder.glob(self.files_in_folder({"format": self.format})))
        if pictures:  # where the pictures are, as a video output says where its file is
            log.info("node '%s' (ImageSequenceOutput): %s holds %d picture%s (%s to %s)", self.id, self.folder,
                     len(pictures), "s" * (len(pictures) != 1), pictures[0], pictures[-1])


class NullOutput(Node):
    """Discards frames; for benchmarks and soak tests."""

    category = "Output"
    inputs = {"frame": Frame}
    cost_ms = 0.0

    def process(self, frame):
        return {}
