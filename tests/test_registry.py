"""The engine names no node library: the built-in nodes and benchmarks come through the same entry-point
groups as a third-party package's."""

import ast
from importlib.metadata import entry_points

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
