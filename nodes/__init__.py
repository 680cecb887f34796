"""The built-in node library. Face code lives here (and in `face/`), never in `nodegraph/`."""

from . import adjust, color, display, label, merge, outputs, sources, swap

BUILTIN_NODES = [
    sources.VideoSource,
    sources.ImageSource,
    sources.FolderSource,
    sources.TestPattern,
    adjust.FrameAdjuster,
    outputs.VideoFileOutput,
    outputs.ImageSequenceOutput,
    swap.DFMSwapper,
    swap.InSwapper,
    color.ColorTransfer,
    merge.FaceMerger,
    display.WindowOutput,
    display.VirtualCameraOutput,
    label.SyntheticLabel,
]
