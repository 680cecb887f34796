"""Soak the multiprocess runtime: a paced TestPattern -> FrameAdjuster -> NullOutput, one process per
node, run for minutes while the editor's calls (previews, snapshots) poll it, and print whether memory,
file descriptors and shared-memory segments stay flat.

    python scripts/soak.py --minutes 30          # the long soak; prints the figures
    python scripts/soak.py --seconds 25 --json   # what tests/test_soak.py runs

Measured once a second: the resident memory (VmRSS) of the supervisor (this process) and of every stage
process (`Runtime.pids()`), summed; their open file descriptors (/proc/PID/fd); the run's segments in
/dev/shm. Growth is the median of the last five samples against the median of the five after the
warm-up (a quarter of the run, at least 10 s: the stats windows fill, the allocators settle).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
from multiprocessing import resource_tracker
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from nodegraph import shm  # noqa: E402
from nodegraph.graph import Graph, Link  # noqa: E402
from nodegraph.registry import default_registry  # noqa: E402
from nodegraph.runtime import Runtime  # noqa: E402

WINDOW = 5  # samples in the medians compared


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def soak_graph(width: int, height: int, fps: float) -> Graph:
    graph = Graph("soak")
    pattern = {"width": width, "height": height, "frames": 0, "realtime": True, "fps": fps}
    graph.add_node("TestPattern", pattern, node_id="src", process="a")
    graph.add_node("FrameAdjuster", {"brightness": 20, "median_blur": 3}, node_id="adj", process="b")
    graph.add_node("NullOutput", {}, node_id="out", process="c")
    graph.add_link(Link.parse("src.frame", "adj.frame"))
    graph.add_link(Link.parse("adj.frame", "out.frame"))
    return graph


def sample(runtime: Runtime, pids: dict[str, int]) -> dict:
    everyone = {"supervisor": os.getpid(), **pids}
    return {"t": time.monotonic(), "rss_kib": {name: rss_kib(pid) for name, pid in everyone.items()},
            "fds": {name: open_fds(pid) for name, pid in everyone.items()},
            "segments": len(shm.segments(runtime.run_id)), "frames": runtime.snapshot().frames}


def watch(runtime: Runtime, seconds: float, samples: list, failure: list, finished: threading.Event) -> None:
    """Poll the run as the editor does and take a sample a second, for `seconds` from the first frame out;
    then stop the run."""
    try:
        while runtime.snapshot().frames == 0:
            if finished.wait(0.05):
                return
        deadline, pids, next_sample = time.monotonic() + seconds, runtime.pids(), 0.0
        while time.monotonic() < deadline and not finished.is_set():
            for node_id in ("src", "adj", "out"):  # the editor's thumbnails, ~10 times a second
                runtime.preview(node_id)
            if time.monotonic() >= next_sample:
                next_sample = time.monotonic() + 1.0
                samples.append(sample(runtime, pids))
            time.sleep(0.1)
        if runtime.pids() != pids:
            failure.append(f"stage processes changed during the soak: {pids} -> {runtime.pids()}")
    except Exception as e:  # the figures would be meaningless: say why
        failure.append(f"{type(e).__name__}: {e}")
    finally:
        runtime.stop()


def soak(seconds: float, width: int = 640, height: int = 480, fps: float = 30.0) -> dict:
    # opened once per process, not per run: the resource tracker's pipe, what importing the nodes opens
    resource_tracker.ensure_running()
    runtime = Runtime(soak_graph(width, height, fps), default_registry(), previews=True)
    fds_before = open_fds(os.getpid())
    samples: list[dict] = []
    failure: list[str] = []
    finished = threading.Event()
    watcher = threading.Thread(target=watch, args=(runtime, seconds, samples, failure, finished), daemon=True)
    watcher.start()
    try:
        report = runtime.run()
    finally:
        finished.set()
        watcher.join()
    fds = {"before_run": fds_before, "after_run": open_fds(os.getpid())}
    run_id = runtime.run_id
    del runtime  # its Process objects hold two pipe ends per stage until they are collected
    gc.collect()
    fds["runtime_dropped"] = open_fds(os.getpid())
    return summarise(samples, seconds, report, failure, fds, len(shm.segments(run_id)), fps)


def summarise(samples, seconds, report, failure, supervisor_fds, segments_after, fps) -> dict:
    if len(samples) < 4 * WINDOW:
        return {"error": report.error or "; ".join(failure) or f"only {len(samples)} samples were taken"}
    warm = next(i for i, s in enumerate(samples) if s["t"] - samples[0]["t"] >= max(10.0, seconds / 4))
    baseline, end = samples[warm:warm + WINDOW], samples[-WINDOW:]

    def total(s):
        return sum(s["rss_kib"].values())

    def median_rss(window, name=None):
        return statistics.median(total(s) if name is None else s["rss_kib"][name] for s in window)

    start_kib, base_kib, end_kib = total(samples[0]), median_rss(baseline), median_rss(end)
    after_warm = samples[warm:]
    names = samples[0]["rss_kib"]
    fds = [sum(s["fds"].values()) for s in after_warm]
    span_s = end[WINDOW // 2]["t"] - baseline[WINDOW // 2]["t"]  # between the medians' middles
    return {
        "seconds": round(samples[-1]["t"] - samples[0]["t"], 1),
        "warmup_s": round(samples[warm]["t"] - samples[0]["t"], 1),
        "frames": report.frames,
        "fps": round(report.fps, 1),
        "target_fps": fps,
        "drops": sum(n["drops"] for n in report.nodes.values()),
        "errors": sum(n["errors"] for n in report.nodes.values()),
        "run_error": report.error,
        "failure": "; ".join(failure),
        "processes": len(names),
        "rss_mib": {"start": round(start_kib / 1024, 1), "after_warmup": round(base_kib / 1024, 1),
                    "end": round(end_kib / 1024, 1)},
        "rss_growth_pct": round(100.0 * (end_kib - base_kib) / base_kib, 2),
        "rss_slope_kib_per_min": round((end_kib - base_kib) / span_s * 60.0, 1) if span_s > 0 else 0.0,
        "rss_mib_per_process": {name: [round(median_rss(baseline, name) / 1024, 1),
                                       round(median_rss(end, name) / 1024, 1)] for name in names},
        "fds": {"after_warmup": fds[0], "max": max(fds), "end": fds[-1]},
        "supervisor_fds": supervisor_fds,
        "segments": {"after_warmup": samples[warm]["segments"], "max": max(s["segments"] for s in after_warm),
                     "end": samples[-1]["segments"], "after_run": segments_after},
    }


def print_figures(r: dict) -> None:
    print(f"{r['seconds']} s, {r['frames']} frames at {r['fps']} fps (target {r['target_fps']}), "
          f"{r['drops']} dropped, {r['errors']} errors, {r['processes']} processes "
          f"(supervisor + {r['processes'] - 1} stages)")
    print(f"memory (VmRSS, all processes): start {r['rss_mib']['start']} MiB, after the "
          f"{r['warmup_s']} s warm-up {r['rss_mib']['after_warmup']} MiB, end {r['rss_mib']['end']} MiB: "
          f"{r['rss_growth_pct']:+.2f} % ({r['rss_slope_kib_per_min']:+.1f} KiB/min)")
    print("  per process (after warm-up -> end, MiB): "
          + ", ".join(f"{n} {a} -> {b}" for n, (a, b) in r["rss_mib_per_process"].items()))
    print(f"open file descriptors (all processes): after warm-up {r['fds']['after_warmup']}, "
          f"max {r['fds']['max']}, end {r['fds']['end']}; supervisor before the run "
          f"{r['supervisor_fds']['before_run']}, after it {r['supervisor_fds']['after_run']}, once the "
          f"Runtime is dropped {r['supervisor_fds']['runtime_dropped']}")
    print(f"shared-memory segments of the run: after warm-up {r['segments']['after_warmup']}, "
          f"max {r['segments']['max']}, end {r['segments']['end']}, after the run "
          f"{r['segments']['after_run']}")
    if r["run_error"] or r["failure"]:
        print(f"problems: {r['run_error']} {r['failure']}".strip())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="how long to run (default 10)")
    length.add_argument("--seconds", type=float, help="how long to run, in seconds")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60.0 * (args.minutes or 10.0)
    if seconds < 4 * WINDOW:
        parser.error(f"run at least {4 * WINDOW} s: a 10 s warm-up, then the samples compared")
    result = soak(seconds, args.width, args.height, args.fps)
    if args.json:
        print(json.dumps(result, indent=2))
    elif "error" in result:
        print(f"soak failed: {result['error']}")
    else:
        print_figures(result)
    return 0 if "error" not in result and not result["run_error"] and not result["failure"] else 1


if __name__ == "__main__":
    sys.exit(main())
