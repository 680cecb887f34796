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
    "video": ("nodes.video_bench", "decode and encode fps of PyAV (H.264) against OpenCV at 640x480 and 1080p, "
              "and the file size at equal quality (PSNR against the lossless frames)"),
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
