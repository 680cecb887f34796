"""The built-in node library. Face code lives here (and in `face/`), never in `nodegraph/`."""

from . import (
    adjust,
    align,
    camera,
    color,
    compose,
    detect,
    display,
    faces_file,
    label,
    landmarks,
    merge,
    meshwarp,
    outputs,
    select,
    sources,
    swap,
)

# Benchmarks of this library, run by `nodegraph bench NAME`: name -> (module with run(frames) and
# summary(result), one line of help)
BENCHMARKS = {
    "chain": ("nodes.chain_bench", "ms per node of the face detector, marker and aligner on a 640x480 frame "
              "with one face, then the demo face swap (video_swap.json) as a pipeline: lossless fps, realtime "
              "latency, ms per node, against the sequential executor's fps"),
    "gpu": ("nodes.gpu_bench", "the swap presets with every model on the CPU, on auto and on each GPU provider "
            "that loads, side by side: fps, latency p50/p95/max, start-up, ms per node; 640x480 and 1080p, one "
            "face and two, lossless and realtime, and an inswapper_128-sized stand-in swapper at 1080p"),
}

BUILTIN_NODES = [
    sources.VideoSource,
    sources.ImageSource,
    sources.FolderSource,
    sources.TestPattern,
    camera.CameraSource,
    adjust.FrameAdjuster,
    compose.FrameCompose,
    outputs.VideoFileOutput,
    outputs.ImageSequenceOutput,
    outputs.NullOutput,
    faces_file.FacesFileOutput,
    detect.FaceDetector,
    landmarks.FaceMarker,
    align.FaceAligner,
    select.FaceSelector,
    swap.DFMSwapper,
    swap.InSwapper,
    meshwarp.MeshWarpSwapper,
    color.ColorTransfer,
    merge.FaceMerger,
    display.WindowOutput,
    display.VirtualCameraOutput,
    label.SyntheticLabel,
]
