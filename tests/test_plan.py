"""The scheduler: stages balanced by cost, pins honoured, thread budgets, one ring per crossing port."""

from itertools import pairwise

import pytest
from conftest import run_cli

from nodegraph.errors import InvalidInput
from nodegraph.graph import Graph, Link
from nodegraph.node import Node
from nodegraph.plan import TRANSPORT_MS, make_plan
from nodegraph.registry import load_registry
from nodegraph.types import Frame


class Detector(Node):
    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    heavy = True
    cost_ms = 20.0


class Swapper(Node):
    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    heavy = True
    cost_ms = 30.0


class HeavyNoHint(Node):
    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    heavy = True


@pytest.fixture(scope="module")
def registry():
    registry = load_registry(third_party=False)
    for cls in (Detector, Swapper, HeavyNoHint):
        registry.add(cls, "tests")
    return registry


def chain(*types, pins=None):
    graph = Graph("chain")
    ids = []
    for i, type_name in enumerate(types):
        params = {"path": "out.mp4"} if type_name == "VideoFileOutput" else {}
        ids.append(graph.add_node(type_name, params, node_id=f"n{i}",
                                  process=(pins or {}).get(f"n{i}")))
    for a, b in pairwise(ids):
        graph.add_link(Link(a, "frame", b, "frame"))
    return graph


def test_two_cores_split_the_demo_chain_before_the_encoder(registry):
    plan = make_plan(chain("TestPattern", "FrameAdjuster", "VideoFileOutput"), registry, cores=2)
    assert [s.nodes for s in plan.stages] == [("n0", "n1"), ("n2",)]
    assert [s.threads for s in plan.stages] == [1, 1]
    assert [(b.name, b.stage, b.readers) for b in plan.buffers] == [("n1.frame", "s0", ("s1",))]


def test_one_core_runs_everything_in_one_stage(registry):
    plan = make_plan(chain("TestPattern", "FrameAdjuster", "VideoFileOutput"), registry, cores=1)
    assert [s.nodes for s in plan.stages] == [("n0", "n1", "n2")]
    assert plan.buffers == ()


def test_heavy_nodes_get_their_own_process_and_light_ones_are_fused(registry):
    graph = chain("TestPattern", "FrameAdjuster", "Detector", "Swapper", "FrameAdjuster", "VideoFileOutput")
    plan = make_plan(graph, registry, cores=4)
    assert [s.nodes for s in plan.stages] == [("n0", "n1", "n2"), ("n3",), ("n4", "n5")]
    assert plan.frame_ms == pytest.approx(30.0 + 2 * TRANSPORT_MS)
    # more cores than useful stages: the spare cores become threads, never more than the cores
    wide = make_plan(graph, registry, cores=16)
    assert sum(s.threads for s in wide.stages) == 16
    assert wide.stage_of("n3").threads == max(s.threads for s in wide.stages)


def test_a_heavy_node_without_a_cost_hint_counts_as_heavy(registry):
    plan = make_plan(chain("TestPattern", "FrameAdjuster", "HeavyNoHint"), registry, cores=2)
    assert [s.nodes for s in plan.stages] == [("n0", "n1"), ("n2",)]


def test_threads_never_exceed_the_cores_while_there_are_enough(registry):
    graph = chain("TestPattern", "Detector", "Swapper", "Detector", "VideoFileOutput")
    for cores in range(1, 9):
        plan = make_plan(graph, registry, cores=cores)
        assert len(plan.stages) <= cores
        assert sum(s.threads for s in plan.stages) == cores


def test_pins_share_a_process_and_what_lies_between_joins_them(registry):
    graph = chain("TestPattern", "FrameAdjuster", "FrameAdjuster", "FrameAdjuster", "VideoFileOutput",
                  pins={"n1": "gpu", "n3": "gpu"})
    plan = make_plan(graph, registry, cores=2)
    gpu = plan.stage_of("n1")
    assert {"n1", "n2", "n3"} <= set(gpu.nodes) and gpu.pin == "gpu"


def test_different_pins_get_different_processes_even_on_one_core(registry):
    graph = chain("TestPattern", "FrameAdjuster", "VideoFileOutput", pins={"n0": 1, "n1": 2, "n2": 3})
    plan = make_plan(graph, registry, cores=1)
    assert [s.nodes for s in plan.stages] == [("n0",), ("n1",), ("n2",)]
    assert [s.pin for s in plan.stages] == ["1", "2", "3"]


def test_a_pin_that_would_make_a_process_wait_on_itself_is_refused(registry):
    graph = chain("TestPattern", "FrameAdjuster", "FrameAdjuster", "VideoFileOutput",
                  pins={"n1": "a", "n2": "b", "n3": "a"})
    with pytest.raises(InvalidInput, match=r"node 'n2' \(FrameAdjuster\), field 'process': pinned to process 'b' "
                                           "but lies between nodes 'n1', 'n3' of process 'a'"):
        make_plan(graph, registry, cores=4)


def test_validate_names_every_pin_that_cannot_be_honoured_with_the_graph_s_other_problems(registry):
    # pins were checked only by make_plan, after the graph was valid, and there the first stopped it: validate
    # said nothing of them, and a run refused for another problem showed a pin's only on the next try
    graph = chain("TestPattern", "FrameAdjuster", "FrameAdjuster", "FrameAdjuster", "FrameAdjuster",
                  "VideoFileOutput", pins={"n1": "a", "n2": "b", "n3": "a", "n4": "c", "n5": "a"})
    graph.set_param("n1", "brightness", 999)
    said = [str(p) for p in graph.validate(registry)]
    assert said[0].startswith("node 'n1' (FrameAdjuster), param 'brightness'"), said
    assert said[1:] == [
        "node 'n2' (FrameAdjuster), field 'process': pinned to process 'b' but lies between nodes 'n1', 'n3', 'n5' "
        "of process 'a'; a process cannot wait on itself: change or clear one of the pins",
        "node 'n4' (FrameAdjuster), field 'process': pinned to process 'c' but lies between nodes 'n1', 'n3', 'n5' "
        "of process 'a'; a process cannot wait on itself: change or clear one of the pins"], said


def test_fan_out_shares_one_ring_and_sources_stay_together(registry):
    graph = Graph("fan")
    for node_id, type_name in [("src", "TestPattern"), ("a", "Detector"), ("b", "Swapper"),
                               ("mix", "FrameCompose"), ("still", "TestPattern")]:
        graph.add_node(type_name, node_id=node_id)
    graph.add_node("VideoFileOutput", {"path": "o.mp4"}, node_id="out")
    graph.add_node("VideoFileOutput", {"path": "o2.mp4"}, node_id="out2")
    for link in [("src", "a"), ("src", "b"), ("a", "mix", "frame", "frame"), ("b", "mix", "frame", "second_frame"),
                 ("mix", "out"), ("still", "out2")]:
        src, dst, *ports = link
        src_port, dst_port = ports or ("frame", "frame")
        graph.add_link(Link(src, src_port, dst, dst_port))
    plan = make_plan(graph, registry, cores=4)
    assert plan.stage_of("src") is plan.stage_of("still")
    assert plan.stage_of("a") is not plan.stage_of("b")
    src_ring = [b for b in plan.buffers if b.name == "src.frame"]
    assert len(src_ring) == 1
    assert set(src_ring[0].readers) == {plan.stage_of("a").name, plan.stage_of("b").name} - {src_ring[0].stage}
    # every stage reads only from stages before it: no process waits on a later one
    position = {s.name: i for i, s in enumerate(plan.stages)}
    assert all(position[r] > position[b.stage] for b in plan.buffers for r in b.readers)


def test_an_invalid_graph_is_refused_with_every_problem(registry):
    graph = Graph("bad")
    graph.add_node("FrameAdjuster", node_id="lonely")
    graph.add_node("NoSuchNode", node_id="ghost")
    with pytest.raises(InvalidInput) as e:
        make_plan(graph, registry)
    assert "node 'lonely'" in str(e.value) and "unknown node type 'NoSuchNode'" in str(e.value)


def test_plan_prints(registry):
    text = str(make_plan(chain("TestPattern", "FrameAdjuster", "VideoFileOutput"), registry, cores=2))
    assert "2 stages on 2 cores" in text
    assert "stage s1: 1 thread" in text and "n2 (3 ms)" in text
    assert "n1.frame (s0) -> s1" in text


def test_cli_plan_prints_the_demo_plan():
    result = run_cli("plan", "presets/demo.json", "--cores", "2")
    assert result.returncode == 0, result.stderr
    assert "stage s0" in result.stdout and "adjust.frame (s0) -> s1" in result.stdout


def test_cli_plan_refuses_a_core_count_no_machine_has_instead_of_hanging():
    # `--cores 1000000000` (a typo) used to spin for minutes handing out threads one core at a time.
    result = run_cli("plan", "presets/demo.json", "--cores", "1000000000", timeout=20)
    assert result.returncode == 2
    assert "argument --cores: must be at most 8192, got 1000000000" in result.stderr
