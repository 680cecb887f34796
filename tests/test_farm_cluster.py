"""`nodegraph farm` on a Ray cluster of several nodes (Ray's own `cluster_utils.Cluster`: a head and real
raylets, on this one machine): chunks spread over the nodes, and a whole node lost mid-chunk costs nothing."""

from __future__ import annotations

import pytest
import ray
from clips import frame_index, read_frames, write_clip
from ray.cluster_utils import Cluster
from test_farm import farm_preset

from nodegraph import preset as presets
from nodegraph.farm.progress import start_board
from nodegraph.farm.run import run_farm


@pytest.fixture
def two_node_cluster():
    """A head that runs no tasks and two nodes of one core each; the farm joins it by its address."""
    # a lost node is noticed after 2 missed health checks of 0.5 s (Ray's default: 5 of 3 s)
    quick = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500, "health_check_failure_threshold": 2}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                            "_system_config": quick})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    yield cluster, nodes
    ray.shutdown()
    cluster.shutdown()


def test_a_node_lost_mid_chunk_is_replaced_and_the_file_is_complete(tmp_path, two_node_cluster):
    cluster, nodes = two_node_cluster
    ray.init(address=cluster.address)  # as `--address HOST:PORT` does; run_farm then uses this connection
    clip = write_clip(tmp_path / "clip.mp4", frames=120, fps=30, codec="h264")
    graph = presets.load(farm_preset(tmp_path, codec="h264", ext=".mp4", realtime=True))  # 2 s a chunk
    lost = []

    def lose_a_busy_node(board):
        # between frames 5 and 20 of 60, paced at 30 fps (a report every 0.25 s, so two land there): 1.3 s left,
        # which the board's lag (< 0.5 s, more on a machine crowded by the suite's other workers) cannot use up;
        # taken at frame 30, the chunk once ended first
        busy = next((state for state in board.values() if 5 <= state["frames"] <= 20), None)
        if not lost and busy:
            node = next(n for n in nodes if n.node_id == busy["node"])
            cluster.remove_node(node, allow_graceful=False)  # its raylet and workers are killed
            lost.append(busy["node"])
            cluster.add_node(num_cpus=1)  # a machine to replace it, as an autoscaler would

    report = run_farm(graph, [clip], str(tmp_path / "farm"), chunk_seconds=2.0, warmup=5, watch=lose_a_busy_node)
    assert lost
    assert [frame_index(frame) for frame in read_frames(tmp_path / "farm" / "clip.mp4")] == list(range(120))
    chunks = report.to_json()["inputs"][0]["chunks"]
    retried = [c for c in chunks if c["tries"] > 1]
    assert retried and all(c["node"] != lost[0] for c in retried)  # the lost chunk ran again, elsewhere
    assert any(c["tries"] == 1 and c["node"] != lost[0] for c in chunks)  # the other node rendered meanwhile
    assert all(c["ip"] and c["node"] and c["pid"] for c in chunks)  # a forgotten record's node (None) passed above


def test_the_board_lives_on_the_drivers_node_whatever_the_workers(two_node_cluster):
    # on a worker, the board went with it when that node was lost, and the retried chunk said 1 try
    cluster, _ = two_node_cluster
    ray.init(address=cluster.address)
    boards = [start_board(ray) for _ in range(5)]
    ray.get([board.read.remote() for board in boards])  # each placed and running
    placed = [a["Address"]["NodeID"] for a in ray._private.state.actors().values()
              if a["ActorClassName"] == "ChunkBoard"]
    assert placed == [ray.get_runtime_context().get_node_id()] * 5
