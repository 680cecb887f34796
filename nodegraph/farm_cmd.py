"""`nodegraph farm PRESET INPUT... --out DIR`: the farm's command line (the work is in `nodegraph.farm`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import non_negative_int, positive_float, positive_int
from .console import ProgressBar, tell
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, InvalidInput
from .execution import stop_signals
from .farm.progress import FarmReport
from .graph import Graph
from .output_checks import check_not_an_input
from .registry import default_registry
from .run_inputs import checked_inputs
from .side_files import check_stats_path


def add_parser(subparsers) -> argparse.ArgumentParser:
    farm = subparsers.add_parser(
        "farm", help="run a preset over many video files on a Ray cluster, each cut into chunks",
        description="Run PRESET on every INPUT (each takes the place of the preset's VideoSource) on a Ray "
                    "cluster: each input is cut into chunks that run as Ray tasks, joined without re-encoding "
                    "into DIR/<input name>.<the preset output's extension>. Needs `pip install 'nodegraph[farm]'`.")
    farm.add_argument("preset", help="the preset file (JSON)")
    farm.add_argument("inputs", nargs="+", metavar="INPUT", help="video files to render")
    farm.add_argument("--out", required=True, metavar="DIR", help="the folder to write the outputs into")
    farm.add_argument("--address", metavar="ADDR",
                      help="the Ray cluster to join: auto (the one `ray start` began on this machine) or "
                           "ray://HOST:10001; without it, a local Ray is started for this run")
    farm.add_argument("--chunk-seconds", type=positive_float, default=30.0, metavar="S",
                      help="about how long each chunk is (default 30): shorter spreads a short input over more "
                           "workers, longer repeats the set-up and warm-up less often")
    farm.add_argument("--warmup-frames", type=non_negative_int, default=30, metavar="N",
                      help="frames run before each chunk and dropped, so trackers and smoothing have their "
                           "state at its first frame (default 30)")
    farm.add_argument("--max-retries", type=non_negative_int, default=3, metavar="N",
                      help="how often a chunk whose worker died is run again (default 3)")
    farm.add_argument("--cpus", type=positive_int, metavar="N",
                      help="cores of the local Ray (without --address; default: all)")
    farm.add_argument("--cpus-per-task", type=positive_int, default=1, metavar="N",
                      help="cores each chunk gets; 1 runs it in one process, more in one process per stage")
    farm.add_argument("--set", action="append", metavar="NODE.PARAM=VALUE", help="override a param (repeatable)")
    farm.add_argument("--stats-json", metavar="FILE",
                      help="write per-chunk times and the worker each chunk ran on here")
    farm.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                      help="show a progress bar (default: when stderr is a terminal)")
    farm.set_defaults(func=run)
    return farm


def stop_once(tell):
    """A handler for Ctrl-C and SIGTERM: the first interrupts the farm, which then cancels its chunks, shuts
    Ray down and removes what it wrote; one more meanwhile is said, not acted on (it cut that short: Ray's
    agents ran on, and chunk folders and partial files stayed)."""
    stopping = []

    def on_signal(signum, frame):
        if stopping:
            tell("nodegraph: stopping: the chunks are cancelled and Ray shut down (Ctrl-\\ quits at once)")
            return
        stopping.append(True)
        raise KeyboardInterrupt

    return on_signal


def checked_farm_inputs(args) -> tuple[Graph, Path | None]:
    """`checked_inputs` for `nodegraph farm`, as `nodegraph run` checks its own: a bad --stats-json, the preset
    or --set values it cannot take, and then what the farm would say of the preset with these inputs."""
    from .farm.run import preset_refusal, stats_refusal

    def check_stats(stats_json: str) -> Path:
        path = check_stats_path(stats_json, made=args.out)
        # the inputs and outputs: run_farm checks them with its own
        check_not_an_input(stats_json, [args.preset], f"--stats-json {stats_json}")
        return path

    return checked_inputs(
        args.preset, args.set or [], default_registry(), args.stats_json, check_stats=check_stats,
        stats_refusal=lambda graph: stats_refusal(graph, args.inputs, args.out, args.stats_json),
        graph_refusal=lambda graph, set_for: preset_refusal(graph, args.inputs, args.out, set_for),
        refusal_json=lambda error: refusal_json(args, error))


def refusal_json(args, error: str) -> dict:
    """The --stats-json of a farm refused before any task."""
    return FarmReport(address=args.address or "local", error=error).to_json()


def run(args) -> int:
    from .farm.run import run_farm
    from .side_files import write_stats

    graph, stats_path = checked_farm_inputs(args)
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = ProgressBar() if show else None
    try:
        with stop_signals(stop_once(tell)):  # a service manager's SIGTERM stops it as Ctrl-C does
            report = run_farm(graph, args.inputs, args.out, address=args.address,
                              chunk_seconds=args.chunk_seconds, warmup=args.warmup_frames,
                              max_retries=args.max_retries, cpus=args.cpus, cpus_per_task=args.cpus_per_task,
                              progress=bar, stats_json=args.stats_json)
    except InvalidInput as e:  # refused before any task (an input that is no video): said in the file too
        if stats_path is not None:
            write_stats(stats_path, refusal_json(args, str(e)))
        raise
    except KeyboardInterrupt:  # while the inputs were read (a run it began, run_farm returns as interrupted)
        tell("nodegraph: interrupted; nothing was written")
        return EXIT_INTERRUPTED
    finally:
        if bar:
            bar.finish()
    status = EXIT_OK
    if stats_path is not None and not write_stats(stats_path, report.to_json()):
        status = EXIT_INVALID
    tell(report.summary_line())
    failed: dict[str, int] = {}  # node id -> frames it failed on, over every chunk (as `run` counts them)
    for record in report.inputs:
        for chunk in record.chunks:
            for node_id, count in chunk.get("node_errors", {}).items():
                failed[node_id] = failed.get(node_id, 0) + count
    for node_id, count in failed.items():
        tell(f"nodegraph: node '{node_id}' failed on {count} frames (they passed through; the workers' "
             "messages above say why)")
    for record in report.inputs:
        if undecoded := sum(chunk.get("undecoded", 0) for chunk in record.chunks):
            tell(f"nodegraph: {record.input}: {undecoded} frames could not be decoded (damaged packets); they were "
                 "skipped, as `nodegraph run` skips them")
    for record in report.inputs:
        if record.done:  # after a failure or Ctrl-C too: the inputs joined before it are whole
            tell(f"{record.output}: {record.frames} frames", sys.stdout)
    if report.error:
        tell(f"nodegraph: {report.error}")
        return EXIT_FAILED
    if report.interrupted:
        tell("nodegraph: interrupted; no output of an unfinished input was written")
        return EXIT_INTERRUPTED
    return status
