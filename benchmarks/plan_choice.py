"""Which cut of the demo chain (pattern -> adjust -> video file) is fastest on this machine?

Runs the same 640x480 chain sequentially and as pipelines of 1, 2 (the scheduler's plan on two
cores) and 3 stages, back to back, and prints frames per second of each. Not a test: figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from nodegraph.graph import Graph, Link
from nodegraph.registry import default_registry
from nodegraph.runtime import Runtime
from nodegraph.sequential import SequentialRunner


def chain(out: Path, frames: int, pins: tuple) -> Graph:
    graph = Graph("demo-chain")
    graph.add_node("TestPattern", {"width": 640, "height": 480, "frames": frames}, node_id="pattern",
                   process=pins[0])
    graph.add_node("FrameAdjuster", {"median_blur": 3, "brightness": 10}, node_id="adjust", process=pins[1])
    graph.add_node("VideoFileOutput", {"path": str(out)}, node_id="out", process=pins[2])
    graph.add_link(Link("pattern", "frame", "adjust", "frame"))
    graph.add_link(Link("adjust", "frame", "out", "frame"))
    return graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    registry = default_registry()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        results["sequential"] = SequentialRunner(chain(out, args.frames, (None,) * 3), registry).run().fps
        for label, pins in [("1 stage", ("a", "a", "a")), ("scheduler's plan", (None, None, None)),
                            ("3 stages", ("a", "b", "c"))]:
            runtime = Runtime(chain(out, args.frames, pins), registry, mode="lossless")
            report = runtime.run()
            results[f"{label} {[list(s.nodes) for s in runtime.plan.stages]}"] = report.fps
    print(json.dumps({k: round(v, 1) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
