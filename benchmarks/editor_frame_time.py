"""How long the editor's UI frames take while a pipeline runs, under a virtual X display.

Prints the work and render time of each UI frame (p50, p95, max; the target is a p95 of at most
33 ms) and the interval between frames, for the editor idle, then running the preset while the
user watches (the UI draws at the previews' 15 fps) and while the user interacts (it draws at its
60 fps cap), plus the pipeline's fps in each case against the same pipeline run headless for as
long (the editor must not slow it down much).

    python benchmarks/editor_frame_time.py [PRESET] [--set NODE.PARAM=VALUE ...] [--seconds 8]
                                           [--engine auto|process|sequential]

The window is 1280x800 (`--window WxH`), the size `nodegraph edit` opens. The default is the demo
preset made endless (pattern.frames=0), its source unpaced (pattern.realtime=false: the editor
would otherwise pace a looping source): the pipeline takes all the CPU it can get, the hardest case
for the UI. `--set pattern.realtime=true` paces it. The load average before and after is printed,
as other work on the machine changes the figures.

It starts its own Xvfb (needs Xvfb installed) and runs the measurement in a child process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def figures(samples) -> dict:
    values = np.asarray(list(samples), float)
    if not values.size:
        return {"frames": 0}
    return {"frames": int(values.size), "p50": round(float(np.percentile(values, 50)), 2),
            "p95": round(float(np.percentile(values, 95)), 2), "max": round(float(values.max()), 2)}


def load(preset: Path, overrides: list[str]):
    from nodegraph import preset as presets
    from nodegraph.arguments import apply_overrides

    graph = presets.load(preset)
    apply_overrides(graph, overrides)
    return graph


def headless_fps(preset: Path, overrides: list[str], engine: str, seconds: float) -> float:
    """The pipeline alone, in this process, no window: frames per second over `seconds` from its first
    frame. Its sources loop, paced, as in the editor's run (where the preset and overrides leave that unset)."""
    from nodegraph.editor.run_setup import loop_sources
    from nodegraph.editor.session import make_runner
    from nodegraph.registry import default_registry

    graph = load(preset, overrides)
    registry = default_registry()
    loop_sources(graph, registry)
    runner = make_runner(graph, registry, frames=None, mode=None, engine=engine)
    done = []
    thread = threading.Thread(target=lambda: done.append(runner.run()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not runner.snapshot().frames and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # counted from the first frame: set-up is not the pipeline's rate
        first, started = runner.snapshot().frames, time.monotonic()
        time.sleep(seconds)
        frames, elapsed = runner.snapshot().frames - first, time.monotonic() - started
    finally:  # a run left going would keep this process alive
        runner.stop()
        thread.join(30)
    return frames / elapsed


def child(preset: Path, overrides: list[str], engine: str, seconds: float, window: tuple[int, int]) -> dict:
    from nodegraph.editor.app import EditorApp
    from nodegraph.editor.files import RecentFiles
    from nodegraph.editor.state import EditorState

    state = EditorState(recent=RecentFiles(Path.cwd() / "recent.json"), engine=engine)
    state.graph = load(preset, overrides)
    app = EditorApp(state, width=window[0], height=window[1])
    app.build()
    result: dict = {}
    frames_at = [0]

    def measure(phase: str, full_rate: bool):
        app.full_rate = full_rate  # as if the user kept moving the mouse
        start = time.monotonic()
        app.frame_ms.clear()
        app.intervals_ms.clear()
        while time.monotonic() - start < seconds:
            if phase == "running" and not state.running:
                state.start_run()  # a short preset ended: run it again
            yield
        result[phase] = {"frame_ms": figures(app.frame_ms), "interval_ms": figures(app.intervals_ms)}
        if phase != "idle":
            result[phase]["pipeline_fps"] = round((state.poll().frames - frames_at[0]) / seconds, 1)

    def script():
        for _ in range(30):  # let the window settle
            yield
        yield from measure("idle", True)
        state.start_run()
        started = time.monotonic()
        while (state.poll().state == "starting" or time.monotonic() - started < 2.0) \
                and time.monotonic() - started < 60:
            yield  # processes start, models load: not what is measured
        for phase, full_rate in (("watching", False), ("interacting", True)):
            frames_at[0] = state.poll().frames
            yield from measure(phase, full_rate)
        result["previews"] = dict(app.pump.updates)
        state.stop_run()

    app.script = script()
    app.run()
    result["pipeline_fps_headless"] = round(headless_fps(preset, overrides, engine, seconds), 1)
    return result


def start_xvfb() -> tuple[subprocess.Popen, str]:
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        return server, ":" + pipe.readline().strip()


def main() -> int:
    from nodegraph.cli import window_size

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("preset", nargs="?", default=str(REPO / "presets" / "demo.json"))
    parser.add_argument("--set", action="append", metavar="NODE.PARAM=VALUE",
                        help="override a param (default for the demo: pattern.frames=0 pattern.realtime=false)")
    parser.add_argument("--window", type=window_size, default=(1280, 800), metavar="WxH")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--engine", choices=["auto", "process", "sequential"], default="auto")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    preset = Path(args.preset).resolve()
    overrides = args.set if args.set is not None else (
        ["pattern.frames=0", "pattern.realtime=false"] if preset == (REPO / "presets" / "demo.json").resolve() else [])
    if args.child:
        print(json.dumps(child(preset, overrides, args.engine, args.seconds, args.window)))
        return 0

    server, display = start_xvfb()
    try:
        env = {**os.environ, "DISPLAY": display}
        env.pop("WAYLAND_DISPLAY", None)
        load_before = os.getloadavg()
        command = [sys.executable, __file__, str(preset), "--seconds", str(args.seconds), "--engine", args.engine,
                   "--window", "{}x{}".format(*args.window), "--child", *(f"--set={item}" for item in overrides)]
        out = subprocess.run(command, env=env, capture_output=True, text=True,
                             cwd=os.environ.get("TMPDIR", "/tmp"), timeout=args.seconds * 5 + 180)
    finally:
        server.terminate()
        server.wait(10)
    if out.returncode != 0:
        print(out.stdout + out.stderr, file=sys.stderr)
        return out.returncode
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"editor frame time, {preset.name} {' '.join(overrides)}, engine {args.engine}, "
          f"{args.seconds:.0f} s per phase, window {args.window[0]}x{args.window[1]}, {os.cpu_count()} cores, "
          "Xvfb + software GL")
    load_after = os.getloadavg()
    print(f"  load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}: other work on the "
          "machine shares its cores")
    alone = result["pipeline_fps_headless"]
    for phase in ("idle", "watching", "interacting"):
        work, gap = result[phase]["frame_ms"], result[phase]["interval_ms"]
        line = (f"  {phase:11} frame p50 {work['p50']:6.2f} ms  p95 {work['p95']:6.2f} ms  max {work['max']:7.2f} ms"
                f"  | interval p50 {gap['p50']:6.2f} ms  p95 {gap['p95']:6.2f} ms  ({gap['frames']} frames)")
        if "pipeline_fps" in result[phase]:
            fps = result[phase]["pipeline_fps"]
            line += f"  | pipeline {fps:.1f} fps = {fps / alone if alone else 0:.2f}x headless"
        print(line)
    for phase in ("watching", "interacting"):
        p95 = result[phase]["frame_ms"]["p95"]
        print(f"  UI frame time p95 while running, user {phase}: {p95:.1f} ms "
              f"({'within' if p95 <= 33.0 else 'OVER'} 33 ms)")
    print(f"  pipeline headless: {alone:.1f} fps")
    print(f"  previews received per node: {result['previews']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
