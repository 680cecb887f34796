"""The engine names no node library: the built-in nodes and benchmarks come through the same entry-point
groups as a third-party package's."""

import ast
import json
from importlib.metadata import entry_points

import pytest
from conftest import REPO

from nodegraph.bench import ENTRY_POINT_GROUP as BENCH_GROUP
from nodegraph.bench import benchmarks
from nodegraph.registry import BUILTIN_ORIGIN, ENTRY_POINT_GROUP, load_registry


def test_the_builtin_nodes_come_through_the_entry_point():
    ours = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.dist and ep.dist.name == "nodegraph"]
    assert [(ep.name, ep.value) for ep in ours] == [("builtin", "nodes")]
    registry = load_registry(third_party=False)
    assert set(registry.types.values()) == set(ours[0].load().NODES)
    assert set(registry.origin.values()) == {BUILTIN_ORIGIN}
    assert {"VideoSource", "FaceDetector", "MeshWarpSwapper", "VideoFileOutput"} <= set(registry.types)


def test_the_bench_group_lists_chain_transport_and_pipeline():
    found = benchmarks()
    assert list(found)[:3] == ["transport", "pipeline", "chain"]
    chain = [ep for ep in entry_points(group=BENCH_GROUP) if ep.name == "chain"]
    assert [(ep.dist.name, ep.value) for ep in chain] == [("nodegraph", "nodes.chain_bench")]
    for name in ("transport", "pipeline", "chain"):
        module = found[name].load()
        assert callable(module.run) and callable(module.summary), name


@pytest.mark.parametrize(("module", "said"), [
    ("import a_dependency_not_installed\n",
     "benchmark 'odd' from odd-bench (odd_bench) failed to load: ModuleNotFoundError: No module named "
     "'a_dependency_not_installed'; fix or reinstall odd-bench"),
    ("def run(frames):\n    return {}\n",
     "benchmark 'odd' from odd-bench (odd_bench) has no summary(result): a benchmark module needs run(frames) "
     "and summary(result); update or report odd-bench"),
])
def test_a_benchmark_package_that_cannot_run_is_named_not_a_traceback(tmp_path, cli, module, said):
    """`nodegraph bench NAME` of a package's benchmark that failed to import ended in a traceback, exit 1."""
    site = tmp_path / "site"
    (site / "odd_bench-1.0.dist-info").mkdir(parents=True)
    (site / "odd_bench.py").write_text(module)
    (site / "odd_bench-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: odd-bench\nVersion: 1.0\n")
    (site / "odd_bench-1.0.dist-info" / "entry_points.txt").write_text("[nodegraph.benchmarks]\nodd = odd_bench\n")
    result = cli("bench", "odd", env={"PYTHONPATH": str(site)})
    assert result.returncode == 2
    assert f"nodegraph: {said}" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_engine_imports_no_node_library():
    """Neither `import nodes` nor `import_module("nodes...")` anywhere in nodegraph/."""
    offenders = []
    for path in sorted((REPO / "nodegraph").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == \
                    "import_module" and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
            else:
                continue
            offenders += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names
                          if n == "nodes" or n.startswith("nodes.")]
    assert offenders == []


def test_a_third_party_type_named_like_a_builtin_does_not_replace_it(tmp_path, cli):
    """A package earlier on the path than nodegraph's own still loads after the built-ins."""
    site = tmp_path / "site"
    (site / "clash_nodes-1.0.dist-info").mkdir(parents=True)
    (site / "clash_nodes.py").write_text(
        "from nodegraph.node import Node\n\n\nclass TestPattern(Node):\n    category = 'Clash'\n")
    (site / "clash_nodes-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: clash-nodes\nVersion: 1.0\n")
    (site / "clash_nodes-1.0.dist-info" / "entry_points.txt").write_text(
        "[nodegraph.nodes]\nclash = clash_nodes:TestPattern\n")
    listed = cli("nodes", env={"PYTHONPATH": str(site)})
    assert listed.returncode == 0, listed.stderr
    assert "TestPattern  [Sources, built-in]" in listed.stdout
    assert "node type TestPattern from clash-nodes ignored: built-in already has it" in listed.stderr
    # Said once, and by every command: `validate` and `nodes --json` used to say nothing, so a preset
    # written for the package's type was refused for params the built-in lacks, with no hint why.
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"format": "nodegraph-preset", "version": 1,
                                  "nodes": [{"id": "p", "type": "TestPattern"}], "links": []}))
    for args in (["nodes"], ["nodes", "--json"], ["validate", preset]):
        said = cli(*args, env={"PYTHONPATH": str(site)})
        assert said.stderr.count("node type TestPattern from clash-nodes ignored: built-in already has it") == 1, \
            (args, said.stderr)


def test_an_unknown_type_says_which_node_package_failed_to_load(tmp_path, cli):
    """It used to list only the packages that loaded and say to install the one that provides the type,
    which was installed, only broken."""
    site = tmp_path / "site"
    (site / "broken_nodes-1.0.dist-info").mkdir(parents=True)
    (site / "broken_nodes.py").write_text("import a_dependency_not_installed\n")
    (site / "broken_nodes-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-nodes\nVersion: 1.0\n")
    (site / "broken_nodes-1.0.dist-info" / "entry_points.txt").write_text("[nodegraph.nodes]\nbroken = broken_nodes\n")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"format": "nodegraph-preset", "version": 1,
                                "nodes": [{"id": "fancy", "type": "FancyNode"}], "links": []}))
    checked = cli("validate", path, env={"PYTHONPATH": str(site)})
    assert checked.returncode == 2
    assert ("node 'fancy', field 'type': unknown node type 'FancyNode'; installed node packages: built-in; node "
            "package broken-nodes failed to load (ModuleNotFoundError: No module named 'a_dependency_not_installed'). "
            "Fix the package that failed, if it provides it; else install the package that provides it") \
        in checked.stdout


ODD_NODES = '''
from nodegraph.node import Node
from nodegraph.params import Float
from nodegraph.types import Frame


class {name}(Node):
    inputs = {{"frame": {port}}}
    params = {params}
'''


@pytest.mark.parametrize(("name", "port", "params", "said"), [
    ("TextPort", '"Frame"', "{}", "input 'frame' is declared as 'Frame' (str); declare a PortType"),
    ("BareParam", "Frame", '{"gain": 1.5}', "param 'gain' is declared as 1.5 (float); declare a Param"),
    ("BadDefault", "Frame", '{"gain": Float(0.0, 1.0, default=5.0)}',
     "param 'gain': its own default is refused (5.0 is out of range [0.0, 1.0]); declare a default the param takes"),
])
def test_a_node_class_with_unreadable_declarations_fails_its_package_not_the_command(tmp_path, cli, name, port,
                                                                                     params, said):
    """Ports declared by name, or a param as a bare value, crashed `nodegraph nodes` (and validate, and run, of
    a preset using the type) with a traceback, for every user of the machine's environment. A default its
    own param refuses had every preset that left it out refused, as if the preset were wrong."""
    site = tmp_path / "site"
    (site / "odd_nodes-1.0.dist-info").mkdir(parents=True)
    (site / "odd_nodes.py").write_text(ODD_NODES.format(name=name, port=port, params=params))
    (site / "odd_nodes-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: odd-nodes\nVersion: 1.0\n")
    (site / "odd_nodes-1.0.dist-info" / "entry_points.txt").write_text(f"[nodegraph.nodes]\nodd = odd_nodes:{name}\n")
    for args in (["nodes"], ["nodes", "--json"]):
        listed = cli(*args, env={"PYTHONPATH": str(site)})
        assert listed.returncode == 0, listed.stderr
        assert f"node package odd-nodes (odd_nodes:{name}) failed to load: {name} from odd-nodes: {said}" \
            in listed.stderr
        assert "Traceback" not in listed.stderr


def test_an_unbounded_param_is_listed_as_valid_json(tmp_path, cli):
    """A param with no maximum, float('inf'), made `nodegraph nodes --json` print Infinity, which JSON readers
    (jq, JSON.parse, json.loads strictly) refuse: the whole list could not be read."""
    site, info = tmp_path / "site", tmp_path / "site" / "open_nodes-1.0.dist-info"
    info.mkdir(parents=True)
    params = '{"gain": Float(0.0, float("inf"), default=1.0), "taps": Int(-float("inf"), 9, default=3)}'
    (site / "open_nodes.py").write_text("from nodegraph.params import Int\n" + ODD_NODES.format(
        name="OpenGain", port="Frame", params=params))
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: open-nodes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nodegraph.nodes]\nopen = open_nodes:OpenGain\n")

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    listed = cli("nodes", "--json", env={"PYTHONPATH": str(site)})
    assert listed.returncode == 0, listed.stderr
    params = {d["type"]: d for d in json.loads(listed.stdout, parse_constant=refuse)}["OpenGain"]["params"]
    assert (params["gain"]["min"], params["gain"]["max"]) == (0.0, None)
    assert (params["taps"]["min"], params["taps"]["max"]) == (None, 9)
    text = cli("nodes", env={"PYTHONPATH": str(site)}).stdout
    assert 'param gain (float) = 1.0 {"min": 0.0}' in text and 'param taps (int) = 3 {"max": 9}' in text
