"""`nodegraph bench swappers` on the swappers it measures with the tests' tensors-only stand-ins (GHOST,
HiFiFace, UniFace, BlendSwap): each runs through the bench's own node set-up and measuring on a real
face, and its line says that the figure is the node's work, not the model's. The cases with the
networks' compute take minutes on 2 cores, so they are not run here."""

from nodes import chain_bench
from nodes.ghost import GhostSwapper
from nodes.hififace import HiFiFaceSwapper
from nodes.portrait_swap import BlendSwapper, UniFaceSwapper
from nodes.swapper_bench import CASES, TENSORS_ONLY, TENSORS_ONLY_NOTE, measure, one_face, standins, summary


def test_bench_swappers_measures_ghost_hififace_uniface_and_blendswap_and_says_their_models_are_stand_ins(
        tmp_path):
    # the bench printed InSwapper, HyperSwap and SimSwap only: the four FaceFusion families added since had
    # no cost beside them
    assert {GhostSwapper, HiFiFaceSwapper, UniFaceSwapper, BlendSwapper} <= {case[1] for case in CASES}
    cases = [case for case in CASES if case[2] in TENSORS_ONLY]
    assert {case[1] for case in cases} == {GhostSwapper, HiFiFaceSwapper, UniFaceSwapper, BlendSwapper}
    frame = chain_bench.test_frame()  # imported by module: pytest would collect a bare test_frame
    measured = measure(cases, standins(tmp_path, cases), frame, one_face(frame), "cpu", 1)
    assert set(measured) == {"ghost_256", "hififace_256", "uniface_256", "blendswap_256"}
    for case in measured.values():
        assert case["swap_px"] == 256 and case["tensors_only"]
        assert 0 < case["ms_min"] <= case["ms_median"]
        case["ratio_to_inswapper_128"] = None  # as bench_swappers leaves it for them: their model costs nothing
    text = summary({"note": "stand-ins", "cpu_cores": 2, "load_average_after": [1.0, 1.0, 1.0],
                    "frames_per_case": {"cpu": 1}, "providers": {"cpu": measured}})
    lines = [line for line in text.splitlines() if line.startswith("  ")]
    assert len(lines) == 4 and all(line.endswith(f" ms ({case['ms_min']:.1f})    -  ({TENSORS_ONLY_NOTE})")
                                   for line, case in zip(lines, measured.values(), strict=True))
