"""The built-in node library. Face code lives here (and in `face/`), never in `nodegraph/`."""

from . import adjust, outputs, sources

BUILTIN_NODES = [
    sources.VideoSource,
    sources.ImageSource,
    sources.FolderSource,
    sources.TestPattern,
    adjust.FrameAdjuster,
    outputs.VideoFileOutput,
    outputs.ImageSequenceOutput,
]
