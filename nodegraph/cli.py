"""The `nodegraph` command."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import sys
from pathlib import Path

from . import preset as presets
from .arguments import VerbParser, add_logging_flags, apply_overrides, core_count, non_negative_int, positive_int
from .console import ProgressBar, tell
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, InvalidInput, RunFailed
from .paths import data_dir
from .preset_models import fetch_them_all
from .registry import default_registry
from .run_inputs import checked_run_inputs
from .side_files import check_edit_side_files, write_stats
from .stats import RunReport

log = logging.getLogger("nodegraph")


def _setup_logging(verbose: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("nodegraph: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    log.propagate = False


def cmd_run(args) -> int:
    if args.sequential and args.mode == "realtime":
        raise InvalidInput("--sequential runs every frame in order, one node after the other (lossless); "
                           "leave out --sequential for --mode realtime")
    registry = default_registry()
    graph, stats_path, held = checked_run_inputs(args.preset, args.set or [], args.stats_json, registry, args.mode)
    try:
        return run_checked(args, graph, registry, stats_path, held)
    finally:  # on every way out (a refusal, a failure, Ctrl-C): no run is kept from the file, no lock left
        if held is not None:
            held.release(discard=True)


def run_checked(args, graph, registry, stats_path: Path | None, held) -> int:
    """Run the checked graph; its stats go to `stats_path`, whose lock is `held` (None for a stream)."""
    runner = None
    show_progress = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = ProgressBar() if show_progress else None
    try:
        if args.sequential:
            from .sequential import SequentialRunner

            runner = SequentialRunner(graph, registry, frames=args.frames)
        else:
            from .runtime import Runtime

            runner = Runtime(graph, registry, frames=args.frames, mode=args.mode)
        report = run_to_report(runner, bar)
    except (InvalidInput, RunFailed, KeyboardInterrupt) as e:
        if stats_path is not None:  # said in the file too: an earlier run's must not pass for this one's
            refused = runner.report if runner is not None else RunReport(mode=args.mode)
            refused.interrupted = isinstance(e, KeyboardInterrupt)
            refused.error = "" if refused.interrupted else str(e)
            refused.failed_node = refused.failed_node or getattr(e, "node", None)
            write_stats(stats_path, refused.to_json(), held)
        raise
    finally:
        if bar:
            bar.finish()
    status = EXIT_OK
    if stats_path is not None and not write_stats(stats_path, report.to_json(), held):
        status = EXIT_INVALID
    tell(report.summary_line())
    for message in unfed_sinks(graph, registry, report):
        log.warning("%s", message)
    if report.interrupted:
        return EXIT_INTERRUPTED
    if report.error:
        tell(f"nodegraph: {report.error}")
        return EXIT_FAILED
    return status


def run_to_report(runner, bar) -> RunReport:
    """runner.run(). A RunFailed once the frames began is its report's error, as the multiprocess run gives it
    (--sequential raises it): either run ends with its summary line, then the message."""
    try:
        return runner.run(progress=bar)
    except RunFailed:
        if not runner.report.error:  # refused while its nodes set up
            raise
        return runner.report


def unfed_sinks(graph, registry, report) -> list[str]:
    """For each sink (output, display) that never ran in a run that went through frames: why it has nothing
    to show for it. Its inputs were empty on every frame (a node before it gave None), which is no error
    of its own, so the run's summary alone would say done."""
    if report.frames == 0 or report.error:
        return []
    messages = []
    for node_id, spec in graph.nodes.items():
        cls, stats = registry.get(spec.type), report.nodes.get(node_id)
        if cls is None or cls.outputs or not stats or stats["frames"] or stats["errors"] or stats["drops"]:
            continue
        feeders = ", ".join(link.source for link in graph.links_into(node_id)
                            if link.dst_port not in cls.optional_inputs)
        messages.append(f"node '{node_id}' ({spec.type}) got nothing to work on in {report.frames} frames: "
                        f"{feeders} gave no value on any of them, so it wrote and showed nothing; check the "
                        "nodes before it")
    return messages


def cmd_validate(args) -> int:
    registry = default_registry()
    status = EXIT_OK
    for path in args.presets:
        try:
            graph, problems = presets.load(path), []
        except presets.PresetError as e:  # what did load is checked too: every problem at once
            graph, problems = e.graph, e.problems
        problems = problems + (graph.validate(registry) if graph is not None else [])
        if problems:  # through tell: a reader that went away does not change the exit status
            hint = fetch_them_all(graph, registry) if graph is not None else None
            tell("\n".join([f"{path}: invalid", *(f"  {p}" for p in [*problems, *filter(None, [hint])])]), sys.stdout)
            status = EXIT_INVALID
        else:
            nodes, links = len(graph.nodes), len(graph.links)
            tell(f"{path}: ok ({nodes} node{'s' * (nodes != 1)}, {links} link{'s' * (links != 1)})", sys.stdout)
    return status


def cmd_nodes(args) -> int:
    registry = default_registry()
    described = [cls.describe() | {"package": registry.origin[cls.type_name()]} for cls in registry]
    if args.json:
        print(json.dumps(described, indent=2, allow_nan=False))
        return EXIT_OK
    for d in described:
        print(f"{d['type']}  [{d['category']}, {d['package']}]  {d['doc']}")
        for name, port in d["inputs"].items():
            print(f"    in   {name}: {port['type']}{' (optional)' if port['optional'] else ''}")
        for name, port_type in d["outputs"].items():
            print(f"    out  {name}: {port_type}")
        for name, spec in d["params"].items():
            extra = {k: v for k, v in spec.items() if k in ("min", "max", "options") and v is not None}
            print(f"    param {name} ({spec['kind']}) = {spec['default']!r}"
                  f"{' ' + json.dumps(extra) if extra else ''}  {spec['help']}")
    return EXIT_OK


def cmd_edit(args) -> int:
    from .editor import display_problem

    if args.screenshot is None and args.layout_json is not None:
        raise InvalidInput("--layout-json goes with --screenshot")
    check_edit_side_files(args.preset or str(default_preset()), args.screenshot, args.layout_json)
    problem = display_problem()
    if problem:
        print(f"nodegraph: {problem}", file=sys.stderr)
        return EXIT_INVALID
    from .editor.launch import run_editor

    return run_editor(args.preset or default_preset(), engine="sequential" if args.sequential else "auto",
                      run_frames=args.run_frames, screenshot=args.screenshot, layout_json=args.layout_json,
                      window=args.window)


def window_size(text: str) -> tuple[int, int]:
    """`--window WxH`, e.g. 1280x800."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write it as WIDTHxHEIGHT, e.g. 1280x800")
    width, height = int(match[1]), int(match[2])
    if not (640 <= width <= 7680 and 480 <= height <= 4320):
        raise argparse.ArgumentTypeError(f"{text}: the window must be 640x480 to 7680x4320")
    return width, height


def cmd_plan(args) -> int:
    from .plan import make_plan

    graph = presets.load(args.preset)
    registry = default_registry()
    apply_overrides(graph, args.set or [], registry)
    plan = make_plan(graph, registry, cores=args.cores)
    print(json.dumps(plan.to_json(), indent=2) if args.json else f"{args.preset}: {plan}")
    return EXIT_OK


def cmd_cleanup(args) -> int:
    from . import shm

    removed = shm.cleanup()
    print(f"removed {removed} shared-memory segment{'s' * (removed != 1)} left by runs that were killed"
          if removed else "nothing to clean up: no segment of a finished or killed run is left")
    return EXIT_OK


def cmd_bench(args) -> int:
    from .bench import benchmarks, inner_runs_quiet, load_benchmark, machine, machine_line

    known = benchmarks()
    if args.what not in known:
        print(f"nodegraph: no benchmark {args.what!r}; known: {', '.join(known)}", file=sys.stderr)
        return EXIT_INVALID
    bench = load_benchmark(known[args.what])
    with inner_runs_quiet():
        result = bench.run(args.frames)
    about = machine()
    print(json.dumps({"machine": about, **result}, indent=2) if args.json
          else f"{bench.summary(result)}\n{machine_line(about)}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nodegraph", description="Edit, check and run node-graph pipelines saved as presets (JSON files).",
        epilog="Start with `nodegraph edit` (the editor, on the demo preset) or `nodegraph run PRESET` (headless); "
               "`nodegraph COMMAND --help` gives a command's options.")
    add_logging_flags(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=VerbParser)

    run = sub.add_parser("run", help="run a preset headless (video file, webcam)")
    run.add_argument("preset", help="the preset file (JSON)")
    run.add_argument("--set", action="append", metavar="NODE.PARAM=VALUE", help="override a param (repeatable)")
    run.add_argument("--frames", type=positive_int, metavar="N", help="stop after N frames")
    run.add_argument("--stats-json", metavar="FILE", help="write per-node stats and the run's fps here")
    run.add_argument("--sequential", action="store_true",
                     help="run every node in this one process (the reference executor)")
    run.add_argument("--mode", choices=["lossless", "realtime"], default=None,
                     help="lossless: every frame, in order (default for files); realtime: drop the oldest "
                          "frames to keep latency low (default for cameras)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="show a progress bar (default: when stderr is a terminal)")
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser("validate", help="check presets; exit 2 when any is invalid")
    validate.add_argument("presets", nargs="+", metavar="PRESET", help="the preset files (JSON)")
    validate.set_defaults(func=cmd_validate)

    nodes = sub.add_parser("nodes", help="list every node type with its ports and params")
    nodes.add_argument("--json", action="store_true", help="print them as JSON")
    nodes.set_defaults(func=cmd_nodes)

    plan = sub.add_parser("plan", help="print how a preset is cut into processes (stages, rings, threads)")
    plan.add_argument("preset", help="the preset file (JSON)")
    plan.add_argument("--set", action="append", metavar="NODE.PARAM=VALUE", help="override a param (repeatable)")
    plan.add_argument("--cores", type=core_count, metavar="N", help="plan for N cores (default: this machine's)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(func=cmd_plan)

    cleanup = sub.add_parser("cleanup", help="remove the shared memory that killed runs left behind")
    cleanup.set_defaults(func=cmd_cleanup)

    bench = sub.add_parser("bench", help="measure the frame transport, the pipeline or a chain of a node "
                           "library (prints figures)")
    bench.add_argument("what", metavar="NAME",
                       help="transport: memcpy vs shared-memory ring vs multiprocessing.Queue; pipeline: "
                            "two CPU-bound nodes sequential vs one process each; or a benchmark a node "
                            "package registers in the nodegraph.benchmarks group (an unknown name lists "
                            "them all)")
    bench.add_argument("--frames", type=positive_int, metavar="N",
                       help="frames (or rounds) to measure with; each benchmark has its own default")
    bench.add_argument("--json", action="store_true", help="print every figure as JSON instead of the summary")
    bench.set_defaults(func=cmd_bench)

    edit = sub.add_parser("edit", help="open the visual editor (default: the demo preset)")
    edit.add_argument("preset", nargs="?", help="the preset file to open (JSON)")
    edit.add_argument("--run-frames", type=non_negative_int, metavar="N",
                      help="run N frames as soon as the window is up (0: no run)")
    edit.add_argument("--screenshot", metavar="FILE",
                      help="save a picture of the window (after the --run-frames run) to FILE (.png) and exit")
    edit.add_argument("--layout-json", metavar="FILE",
                      help="with --screenshot: write where each node and its thumbnail are in the picture")
    edit.add_argument("--window", type=window_size, default=(1280, 800), metavar="WxH",
                      help="the window's size (default 1280x800); --screenshot pictures it at that size")
    edit.add_argument("--sequential", action="store_true",
                      help="run graphs in the editor's own process instead of one process per stage")
    edit.set_defaults(func=cmd_edit)

    from . import farm_cmd, models_cmd

    models_cmd.add_parser(sub)
    farm_cmd.add_parser(sub)
    return parser


def default_preset() -> Path:
    return data_dir("presets") / "video_swap.json"


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}  # `nodegraph nodes --json > FILE` on a full disk
_WRITE_REFUSED = {*_DISK_FULL, errno.EFBIG}  # and past the size this process may write (`ulimit -f`)


def main(argv: list[str] | None = None) -> int:
    try:  # the parser too: its subcommands import the libraries, which takes a moment
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:  # a bare `nodegraph`: what it does, not "the arguments are required: command"
            parser.print_help()
            return EXIT_INVALID
        _setup_logging(args.verbose, args.quiet)
        return args.func(args)
    except InvalidInput as e:
        tell(f"nodegraph: {e}")
        return EXIT_INVALID
    except RunFailed as e:
        tell(f"nodegraph: {e}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        tell("nodegraph: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`nodegraph nodes | head`): not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as e:
        if e.errno not in _WRITE_REFUSED:
            raise
        hint = "free some space where the output goes, or send it elsewhere" if e.errno in _DISK_FULL else \
            "send it elsewhere"
        tell(f"nodegraph: could not write: {e.strerror}; {hint}")
        # what stays buffered for stdout would fail again, in a traceback, as the interpreter exits
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
