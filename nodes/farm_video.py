"""What `nodegraph farm` needs to know about video (the `nodegraph.farm` entry point of the built-in library):
which nodes of a preset read and write the video, how many frames an input has, how a chunk's range is set on
the preset, and how chunk files are joined without re-encoding, with the input's audio and the disclosure tag."""

from __future__ import annotations

import io
import math
from contextlib import closing
from fractions import Fraction
from pathlib import Path

import av

from nodegraph.errors import InvalidInput, RunFailed
from nodegraph.graph import Graph
from nodegraph.params import Path as PathParam
from nodegraph.registry import Registry

from .audio_copy import AudioCopy
from .frame_count import timestamps_and_restart
from .media import check_readable_file, check_utf8_path
from .source_times import whole_file_times
from .video_io import CONTAINERS, FLUSHED, FRAGMENTED, FlushedFile
from .video_read import VideoReader

SOURCE, OUTPUT = "VideoSource", "VideoFileOutput"
START_PTS_MAX = 2**31 - 1  # VideoSource.start_pts's range


def claim(graph: Graph, registry: Registry) -> tuple[str, str] | None:
    """(source node id, output node id) when the preset reads one video file and writes one; None when it has
    no VideoSource (another plugin may take it). Raises InvalidInput for a preset the farm cannot cut."""
    sources = [node_id for node_id, spec in graph.nodes.items() if spec.type == SOURCE]
    if not sources:
        return None
    outputs = [node_id for node_id, spec in graph.nodes.items() if spec.type == OUTPUT]
    if len(sources) > 1:
        raise InvalidInput(f"the preset reads {len(sources)} videos ({', '.join(sources)}); the farm cuts one "
                           "input into chunks: keep one VideoSource")
    if len(outputs) != 1:
        raise InvalidInput(f"the preset writes {len(outputs)} VideoFileOutput files; the farm writes one video "
                           "per input: keep exactly one VideoFileOutput")
    for node_id, spec in graph.nodes.items():
        cls = registry.get(spec.type)
        writes = cls is not None and any(isinstance(p, PathParam) and p.role == "output" for p in cls.params.values())
        if writes and node_id != outputs[0]:
            raise InvalidInput(f"node '{node_id}' ({spec.type}) writes files too; every chunk would write them "
                               "over each other: remove it, or run this preset with `nodegraph run`")
    if graph.nodes[sources[0]].params.get("start"):
        raise InvalidInput(f"node '{sources[0]}' (VideoSource): start is {graph.nodes[sources[0]].params['start']}; "
                           f"the farm renders whole inputs: set it to 0 (--set {sources[0]}.start=0)")
    if skip := graph.nodes[outputs[0]].params.get("skip_first"):  # set on each chunk to drop its warm-up frames
        raise InvalidInput(f"node '{outputs[0]}' (VideoFileOutput): skip_first is {skip}, and the farm would write "
                           f"those frames: set it to 0 (--set {outputs[0]}.skip_first=0) and cut the inputs first "
                           f"(ffmpeg -ss), or render them with `nodegraph run`")
    if graph.nodes[sources[0]].params.get("loop"):
        raise InvalidInput(f"node '{sources[0]}' (VideoSource): loop is on, so the video never ends; turn it off "
                           f"(--set {sources[0]}.loop=false)")
    return sources[0], outputs[0]


def output_extension(graph: Graph, output_id: str) -> str:
    """The extension of the files the farm writes: the preset's output's (.mp4 when it has none)."""
    suffix = Path(graph.nodes[output_id].params.get("path") or "out.mp4").suffix.lower()
    return suffix if suffix in CONTAINERS else ".mp4"


def probe(path: str) -> tuple[int, float, list[int]]:
    """(frames, fps, each frame's timestamp) of an input, read before any task starts; InvalidInput names the
    file otherwise. A chunk's task seeks straight to its first frame's timestamp (see `set_chunk`)."""
    check_readable_file(path)
    check_utf8_path(path)
    reader = VideoReader(path)
    try:
        fps, first = reader.fps, reader.read()
        said = reader.said_without_frames() if first is None else ""
    finally:
        reader.close()
    try:
        times, restart = timestamps_and_restart(path) if first is not None else ([], None)
    except av.FFmpegError as e:
        raise InvalidInput(f"{path}: cannot be read to its end ({e}); the file is damaged or was changed while "
                           "it was read: repair it (e.g. remux it with ffmpeg) or leave it out") from None
    if not times:
        raise InvalidInput(said or f"{path}: no frame of it decodes, read to its end; give another copy of it")
    if restart is not None:  # its timestamps repeat: a chunk's mark would find the frame of another recording
        raise InvalidInput(f"{path}: its times start again after frame {restart} (recordings joined end to end, as "
                           "`cat` joins MPEG-TS files), and a chunk finds its first frame by its time; remux it so "
                           f"they go on (ffmpeg -i {path} -c copy {Path(path).stem}.mkv) and farm that, or render "
                           "it with `nodegraph run`")
    return len(times), fps, times


def set_chunk(graph: Graph, source_id: str, output_id: str, input_path: str, first: int, warmup: int,
              chunk_path: str, mark: int | None = None) -> None:
    """Make the preset read `input_path` from frame `first - warmup` (whose timestamp, from `probe`, is `mark`)
    and write to `chunk_path`, dropping the `warmup` frames run before the chunk (trackers and smoothing get
    their state from them). The chunk has no audio: the join copies it from the input once."""
    graph.set_param(source_id, "path", input_path)
    graph.set_param(source_id, "start", first - warmup)
    fits = mark is not None and mark <= START_PTS_MAX  # past it (hours at a 90 kHz time base) the source finds it
    graph.set_param(source_id, "start_pts", mark if fits else -1)
    graph.set_param(output_id, "path", chunk_path)
    graph.set_param(output_id, "skip_first", warmup)
    graph.set_param(output_id, "keep_audio", False)


def first_shown(path: str, where: str) -> Fraction:
    """When a chunk file's first frame is shown (s): after 0 where its codec reorders frames (B-frames).
    RunFailed, saying `where` the chunk is, when it holds no frame."""
    try:
        with av.open(path) as chunk:  # PyAV 19 reads no stream attribute once its file is closed
            video = chunk.streams.video[0]
            shown = min((packet.pts for packet in chunk.demux(video) if packet.pts is not None), default=None)
            time_base = video.time_base
    except (av.FFmpegError, IndexError) as e:
        raise RunFailed(f"{where} cannot be read ({e}): its task wrote no frame or a damaged file; run the farm "
                        "again, or look at the workers' logs") from None
    if shown is None:
        raise RunFailed(f"{where} holds no frame; run the farm again, or look at the workers' logs")
    return shown * time_base


def with_dts(packets):
    """The packets, each with a decoding time. Matroska stores none: its demuxer derives them, except for the
    first pictures of a B-frame codec, and a muxer needs them rising. Those get the latest times that still
    rise, before the next packet's and not after their own presentation time."""
    waiting = []
    for packet in packets:
        if packet.dts is None:
            waiting.append(packet)
            continue
        yield from filled_dts(waiting, packet.dts)
        waiting = []
        yield packet
    yield from filled_dts(waiting, None)


def filled_dts(packets: list, before: int | None) -> list:
    """`packets` with rising decoding times, each at most its presentation time and below `before`."""
    for packet in reversed(packets):
        before = packet.pts if before is None else min(packet.pts, before - 1)
        packet.dts = before
    return packets


def join(chunks: list[str], target: str, container_ext: str, graph: Graph, output_id: str,
         input_path: str, name: str) -> int:
    """Remux the chunk files, in order, into `target` (the output `name`'s temporary file; messages say `name`),
    with no re-encoding: each chunk begins where its first frame is in the input (a variable frame rate kept),
    or, in a container of one frame rate (AVI) or where the output sets one (its `fps`), where the chunk before
    ends. The input's audio is copied when the preset's output keeps audio, and the chunks' metadata comment
    (the disclosure tag) is kept. Returns the frames written; RunFailed when a chunk holds none, or does not
    begin with a keyframe (the file would not play from it)."""
    keep_audio = graph.nodes[output_id].params.get("keep_audio", True)
    options = FRAGMENTED if container_ext in (".mp4", ".mov") else FLUSHED
    frames = 0
    wheres = [f"{name}: chunk {index + 1} of {len(chunks)} ({path})" for index, path in enumerate(chunks)]
    leads = [first_shown(path, where) for path, where in zip(chunks, wheres, strict=True)]  # each has frames
    with av.open(chunks[0]) as first, closing(whole_file_times(input_path)) as times, \
            FlushedFile(io.FileIO(target, "w")) as file, \
            av.open(file, "w", format=CONTAINERS[container_ext], options=options) as out:
        comment = next((value for key, value in first.metadata.items() if key.lower() == "comment"), None)
        if comment:
            out.metadata["comment"] = comment
        template = first.streams.video[0]
        rate = template.average_rate or template.guessed_rate
        # the codec parameters as they are: not an encoder named after the decoder (AV1 has none: libdav1d)
        stream = out.add_stream_from_template(template, opaque=True)
        lead = leads[0]  # s: where the first chunk's first frame is shown (a B-frame codec's delay), kept as it is
        # the audio goes as late as that first frame, as in a file `nodegraph run` writes
        audio = AudioCopy(input_path, out, times.first_time - float(lead), name) if keep_audio else None
        # the input's own times, unless the output is set to one rate (its `fps`), as `nodegraph run` writes it
        one_rate = bool(graph.nodes[output_id].params.get("fps"))
        timed = bool(out.format.flags & av.format.Flags.variable_fps.value) and not one_rate
        last = None  # s: the input time of the latest frame written
        decoded = None  # s: the decoding time of the latest packet written
        for path, where, own_lead in zip(chunks, wheres, leads, strict=True):
            with av.open(path) as chunk:
                video = chunk.streams.video[0]
                begin = times.seconds(frames) if timed else None
                begin = Fraction(frames) / rate if begin is None else begin
                if last is not None:  # never before a frame already written (a chunk kept at one rate)
                    begin = max(begin, last + video.time_base)
                shift = round((begin + lead - own_lead) / video.time_base)
                written = 0
                for packet in with_dts(p for p in chunk.demux(video) if p.size):  # not the demuxer's empty last
                    if not written and not packet.is_keyframe:
                        raise RunFailed(f"{where} does not begin with a keyframe: the joined file would not play "
                                        "from there; run the farm again, or look at the workers' logs")
                    packet.pts += shift
                    packet.dts += shift
                    if decoded is not None and packet.dts * video.time_base <= decoded:
                        # a chunk decodes its first frame its B-frame delay (two of its own frames) before it is
                        # shown: where its frames are further apart than the chunk before's, that falls on or
                        # before that chunk's last decoding time, which a muxer refuses
                        packet.dts = min(packet.pts, math.floor(decoded / video.time_base) + 1)
                    decoded = packet.dts * video.time_base
                    packet.stream = stream
                    out.mux(packet)
                    written += 1
                    shown = packet.pts * video.time_base
                    last = shown - lead if last is None else max(last, shown - lead)
                    if audio is not None:
                        audio.feed(float(shown))
                frames += written
        if audio is not None:
            audio.finish(float(last + lead + 1 / rate))
    return frames

