import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
from clips import frame_index, indexed_frame, read_frames
from conftest import REPO, repo_env, run_cli

from nodegraph import preset


def write_preset(path: Path, nodes, links, name="t"):
    path.write_text(json.dumps({"format": "nodegraph-preset", "version": 1, "name": name, "description": "",
                                "nodes": nodes, "links": [{"from": a, "to": b} for a, b in links]}))
    return path


def node(node_id, type_name, **params):
    return {"id": node_id, "type": type_name, "params": params, "pos": None, "process": None}


def test_validate_accepts_every_shipped_preset():
    # neural_swap.json needs catalogue models that are fetched on request: test_neural_swap_preset.py
    shipped = sorted(p for p in (REPO / "presets").glob("*.json") if p.name != "neural_swap.json")
    assert shipped
    result = run_cli("validate", *shipped)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_counts_a_valid_preset_s_nodes_and_links_in_words(tmp_path):
    # it said "(2 nodes, 1 links)"
    p = write_preset(tmp_path / "two.json", [node("src", "TestPattern"), node("out", "NullOutput")],
                     [("src.frame", "out.frame")])
    result = run_cli("validate", p)
    assert result.returncode == 0 and result.stdout == f"{p}: ok (2 nodes, 1 link)\n", result.stdout + result.stderr


def test_validate_names_the_cycle_and_exits_2(tmp_path):
    p = write_preset(tmp_path / "cycle.json",
                     [node("src", "TestPattern"), node("a", "FrameAdjuster"), node("b", "FrameAdjuster")],
                     [("a.frame", "b.frame"), ("b.frame", "a.frame")])
    result = run_cli("validate", p)
    assert result.returncode == 2
    assert "cycle: a -> b -> a" in result.stdout or "cycle: b -> a -> b" in result.stdout


def test_validate_names_node_and_port_on_type_mismatch(tmp_path):
    # A Frame into the scalar-free outputs is not possible among generic nodes, so use a bad port.
    p = write_preset(tmp_path / "bad.json", [node("src", "TestPattern"), node("out", "FrameAdjuster")],
                     [("src.frame", "out.faces")])
    result = run_cli("validate", p, tmp_path / "missing.json")
    assert result.returncode == 2
    assert "node 'out', port 'faces': FrameAdjuster has no input 'faces'" in result.stdout
    assert "node 'out', port 'frame': required input (Frame) is not connected" in result.stdout
    assert "missing.json: invalid" in result.stdout


def test_validate_lists_the_graph_problems_beside_a_bad_link(tmp_path):
    # A link to a misspelt node used to hide every other problem until it was fixed and validate run again.
    p = write_preset(tmp_path / "typos.json",
                     [node("src", "TestPattern"), node("adj", "FrameAdjuster", brightness=9999),
                      node("out", "VideoFileOutptu")],
                     [("src.frame", "adj.frame"), ("adj.frame", "ou.frame")])
    result = run_cli("validate", p)
    assert result.returncode == 2
    assert ("links[1]: cannot link adj.frame -> ou.frame: there is no node 'ou'; did you mean 'out'? the nodes are: "
            "src, adj, out") in result.stdout  # it named no node that is there
    assert "node 'adj' (FrameAdjuster), param 'brightness': 9999 is out of range" in result.stdout
    assert "unknown node type 'VideoFileOutptu'; did you mean 'VideoFileOutput'?" in result.stdout


def test_edit_refuses_a_negative_run_frames_before_opening_a_window(tmp_path):
    # `--run-frames -5 --screenshot` used to start a run, save a picture and exit 0 as if all went well.
    shot = tmp_path / "shot.png"
    result = run_cli("edit", REPO / "presets" / "demo.json", "--run-frames", "-5", "--screenshot", shot)
    assert result.returncode == 2
    assert "argument --run-frames" in result.stderr and "-5" in result.stderr
    assert not shot.exists()


def test_run_300_frames_in_order(tmp_path, clip300):
    p = write_preset(tmp_path / "p.json",
                     [node("src", "VideoSource", path=clip300), node("adj", "FrameAdjuster", median_blur=3),
                      node("out", "VideoFileOutput", path=str(tmp_path / "out.mp4"))],
                     [("src.frame", "adj.frame"), ("adj.frame", "out.frame")])
    result = run_cli("run", p, "--sequential", "--stats-json", tmp_path / "stats.json")
    assert result.returncode == 0, result.stderr
    frames = read_frames(tmp_path / "out.mp4")
    assert [frame_index(f) for f in frames] == list(range(300))
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] == 300 and stats["fps"] > 0
    assert set(stats["nodes"]) == {"src", "adj", "out"}
    assert stats["nodes"]["adj"]["frames"] == 300 and stats["nodes"]["adj"]["ms_p95"] >= 0
    assert "done: 300 frames" in result.stderr


def test_a_one_frame_run_gives_no_fps(tmp_path):
    """One frame has no interval between frames to time: it said 'done: 1 frame in 0.0 s (23.8 fps)'."""
    p = write_preset(tmp_path / "p.json", [node("src", "TestPattern", width=64, height=48, frames=1),
                                           node("out", "ImageSequenceOutput", path=str(tmp_path / "seq"))],
                     [("src.frame", "out.frame")])
    result = run_cli("run", p, "--stats-json", tmp_path / "stats.json")  # multiprocess
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] == 1 and stats["fps"] is None and stats["latency_ms"]["p50"] > 0
    summary = next(line for line in result.stderr.splitlines() if "done: 1 frame in" in line)
    assert "fps" not in summary and "latency p50" in summary


def test_set_and_frames_override(tmp_path):
    p = write_preset(tmp_path / "p.json",
                     [node("src", "TestPattern", width=64, height=48),
                      node("out", "ImageSequenceOutput", path=str(tmp_path / "seq"))],
                     [("src.frame", "out.frame")])
    result = run_cli("run", p, "--sequential", "--frames", "7", "--set", "out.format=\"jpg\"")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "seq").glob("frame_*.jpg"))) == 7
    bad = run_cli("run", p, "--sequential", "--set", "nowhere.x=1")
    assert bad.returncode == 2 and "there is no node 'nowhere'" in bad.stderr
    bad = run_cli("run", p, "--sequential", "--set", "src.width=1")
    assert bad.returncode == 2 and "node 'src' (TestPattern), param 'width': 1 is out of range" in bad.stderr


def test_nodes_lists_types_ports_and_params():
    result = run_cli("nodes", "--json")
    assert result.returncode == 0
    types = {d["type"]: d for d in json.loads(result.stdout)}
    assert types["FrameAdjuster"]["inputs"] == {"frame": {"type": "Frame", "optional": False}}
    assert types["FrameAdjuster"]["params"]["median_blur"]["max"] == 31
    text = run_cli("nodes").stdout
    assert "VideoSource  [Sources, built-in]" in text


def test_third_party_node_through_entry_point(tmp_path):
    """A package registered in the `nodegraph.nodes` entry-point group, installed the way pip
    lays out a package (module + dist-info with entry_points.txt) on the path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "invert_nodes.py").write_text(textwrap.dedent('''
        from nodegraph.node import Node
        from nodegraph.types import Frame

        class Invert(Node):
            """Inverts every pixel."""
            category = "Colour"
            inputs = {"frame": Frame}
            outputs = {"frame": Frame}

            def process(self, frame):
                return {"frame": 255 - frame}
    '''))
    dist = site / "invert_nodes-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: invert-nodes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nodegraph.nodes]\ninvert = invert_nodes:Invert\n")
    env = {"PYTHONPATH": str(site)}
    listed = run_cli("nodes", env=env)
    assert "Invert  [Colour, invert-nodes]" in listed.stdout
    p = write_preset(tmp_path / "p.json",
                     [node("src", "TestPattern", width=64, height=48, frames=3), node("inv", "Invert"),
                      node("out", "ImageSequenceOutput", path=str(tmp_path / "seq"))],
                     [("src.frame", "inv.frame"), ("inv.frame", "out.frame")])
    result = run_cli("run", p, "--sequential", env=env)
    assert result.returncode == 0, result.stderr
    import cv2

    from nodegraph.registry import default_registry
    reference = default_registry().get("TestPattern")("r", {"width": 64, "height": 48})
    reference.setup()
    reference.frame_id = 1
    expected = 255 - reference.process()["frame"]
    assert (cv2.imread(str(tmp_path / "seq" / "frame_000001.png")) == expected).all()
    unknown = run_cli("validate", p)
    assert unknown.returncode == 2
    assert "unknown node type 'Invert'; installed node packages: built-in" in unknown.stdout


def test_demo_preset_runs_from_another_folder(tmp_path):
    result = run_cli("run", REPO / "presets" / "demo.json", "--sequential", "--frames", "10", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "demo.mp4").stat().st_size > 0
    assert not (REPO / "presets" / "out").exists()
    assert preset.load(REPO / "presets" / "demo.json").nodes["out"].params["path"] == "out/demo.mp4"


def test_a_one_frame_run_says_frame_not_frames(tmp_path):
    result = run_cli("run", REPO / "presets" / "demo.json", "--sequential", "--frames", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\ndone: 1 frame in " in result.stderr, result.stderr


def test_bad_command_line_values_are_refused_before_work(tmp_path):
    demo = REPO / "presets" / "demo.json"
    for args in (["--frames", "0"], ["--frames", "-3"], ["--frames", "x"]):
        result = run_cli("run", demo, *args, cwd=tmp_path)
        assert result.returncode == 2 and "--frames" in result.stderr, result.stderr
    result = run_cli("plan", demo, "--cores", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr
    result = run_cli("run", demo, "--stats-json", tmp_path / "nowhere" / "s.json", cwd=tmp_path)
    assert result.returncode == 2
    assert (f"nodegraph: --stats-json {tmp_path / 'nowhere' / 's.json'}: the folder {tmp_path / 'nowhere'} does not "
            f"exist; make it first (mkdir -p {tmp_path / 'nowhere'}) or give a file in a folder that is there"
            in result.stderr), result.stderr  # it said what was wrong only
    assert not (tmp_path / "out").exists()  # refused before the run started
    result = run_cli("bench", "chian")
    assert result.returncode == 2
    assert "no benchmark 'chian'; known: transport, pipeline, chain" in result.stderr
    for verb, said in (("bench", "print every figure as JSON"), ("nodes", "print them as JSON"),
                       ("plan", "print the plan as JSON")):  # --json was in each --help with no word
        assert said in " ".join(run_cli(verb, "--help").stdout.split()), verb


def test_a_bare_nodegraph_shows_what_it_does_and_where_to_start():
    # it said only "nodegraph: error: the following arguments are required: command", and --help's description
    # was "The `nodegraph` command."
    result = run_cli()
    assert result.returncode == 2
    said = " ".join(result.stdout.split())
    assert said.startswith("usage: nodegraph [-h] [-v] [-q] COMMAND ...")
    assert "Edit, check and run node-graph pipelines saved as presets (JSON files)." in said
    assert "run a preset headless" in said and "validate" in said
    assert ("Start with `nodegraph edit` (the editor, on the demo preset) or `nodegraph run PRESET` (headless); "
            "`nodegraph COMMAND --help` gives a command's options.") in said
    assert " ".join(run_cli("--help").stdout.split()) == said


def test_a_closed_pipe_is_not_an_error():
    import subprocess
    import sys

    command = f"{sys.executable} -m nodegraph.cli nodes --json | head -1"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=REPO, timeout=60,
                            env=repo_env())
    assert "Traceback" not in result.stderr and result.stdout.strip()


def test_a_reader_of_the_progress_that_goes_away_neither_stops_the_run_nor_hides_its_status(tmp_path, clip300):
    # `2>&1 | head`: the progress bar's write raised, the run stopped part-way and the command exited 0
    out = tmp_path / "out.mp4"
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=clip300),
                                                node("out", "VideoFileOutput", path=str(out))],
                          [("src.frame", "out.frame")])
    env = repo_env()

    def run_with_stderr_closed(*args):
        process = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", *map(str, args)], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        process.stderr.close()  # the reader is gone before the first line
        return process.wait(timeout=120)

    assert run_with_stderr_closed("run", preset, "--progress") == 0
    assert len(read_frames(out)) == 300
    assert run_with_stderr_closed("run", tmp_path / "missing.json", "--progress") == 2


def test_realtime_mode_says_when_no_source_is_paced_and_sequential_refuses_it(tmp_path, clip300):
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=clip300),
                                                node("out", "NullOutput")], [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--frames", "10", "--mode", "realtime", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "realtime mode, but no source is paced (src)" in result.stderr
    result = run_cli("run", preset, "--frames", "10", "--mode", "realtime", "--set", "src.realtime=true",
                     cwd=tmp_path)
    assert result.returncode == 0 and "no source is paced" not in result.stderr, result.stderr
    result = run_cli("run", preset, "--sequential", "--mode", "realtime", cwd=tmp_path)  # ran lossless silently
    assert result.returncode == 2 and "leave out --sequential for --mode realtime" in result.stderr
    assert "done:" not in result.stderr


def test_a_picture_played_at_a_frame_rate_runs_realtime_by_default(tmp_path):
    picture = tmp_path / "still.png"
    cv2.imwrite(str(picture), indexed_frame(3))
    preset = write_preset(tmp_path / "p.json", [node("src", "ImageSource", path=str(picture), fps=30.0, repeat=6),
                                                node("out", "NullOutput")], [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--stats-json", tmp_path / "s.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "s.json").read_text())["mode"] == "realtime"


def test_verbose_and_quiet_are_taken_after_the_verb_too(tmp_path):
    from nodegraph.cli import build_parser

    for argv in (["-v", "run", "x.json"], ["run", "-v", "x.json"], ["run", "x.json", "--verbose"],
                 ["models", "list", "-v"], ["-v", "models", "list"], ["nodes", "-v", "--json"]):
        args = build_parser().parse_args(argv)
        assert args.verbose and not args.quiet, argv
    assert not build_parser().parse_args(["run", "x.json"]).verbose
    demo = REPO / "presets" / "demo.json"
    quiet = run_cli("run", demo, "--frames", "1", "-q", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "nodegraph: started" not in quiet.stderr and "done: 1 frame" in quiet.stderr
    verbose = run_cli("run", "-v", demo, "--frames", "1", cwd=tmp_path)
    assert verbose.returncode == 0 and "nodegraph: started" in verbose.stderr, verbose.stderr


def test_plan_and_run_of_an_invalid_graph_name_the_preset_file(tmp_path):
    p = write_preset(tmp_path / "unlinked.json", [node("src", "TestPattern"), node("adj", "FrameAdjuster")], [])
    for args in (["plan", p], ["run", p], ["run", p, "--sequential"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert (f"nodegraph: {p}: the graph is not valid:\n  node 'adj', port 'frame': required input (Frame) "
                "is not connected") in result.stderr, args


def test_a_benchmark_says_the_machine_its_figures_are_from():
    # most benchmarks said neither the cores nor the processor, which the README gives beside every figure
    from nodegraph.threads import available_cores

    text = run_cli("bench", "transport", "--frames", "1")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[-1].startswith(f"machine: {available_cores()} cores, ")
    as_json = run_cli("bench", "transport", "--frames", "1", "--json")
    about = json.loads(as_json.stdout)["machine"]
    assert about["cores"] == available_cores() and about["processor"] and len(about["load_average"]) == 3
