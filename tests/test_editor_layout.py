"""Auto layout: layered left to right, no overlaps, long chains folded into bands shaped like the canvas."""

from pathlib import Path

import pytest

from nodegraph import preset as presets
from nodegraph.editor.layout import auto_layout, best_bands, columns, estimated_size

REPO = Path(__file__).resolve().parent.parent
PRESETS = sorted((REPO / "presets").glob("*.json"))


def boxes(graph):
    return {n: (*spec.pos, spec.pos[0] + estimated_size(graph, n)[0], spec.pos[1] + estimated_size(graph, n)[1])
            for n, spec in graph.nodes.items()}


def assert_no_overlap(graph):
    placed = list(boxes(graph).items())
    for i, (a, (ax0, ay0, ax1, ay1)) in enumerate(placed):
        for b, (bx0, by0, bx1, by1) in placed[i + 1:]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a} overlaps {b}"


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_every_link_runs_left_to_right_and_nothing_overlaps(path):
    graph = presets.load(path)
    assert auto_layout(graph, only_missing=False) == list(graph.nodes)
    box = boxes(graph)
    for link in graph.links:
        assert box[link.src][2] < box[link.dst][0], f"{link.src} -> {link.dst} runs right to left"
    assert_no_overlap(graph)


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_folded_to_the_canvas_shape_nothing_overlaps_and_it_draws_larger(path):
    graph = presets.load(path)
    auto_layout(graph, only_missing=False, view=(730, 580))
    assert_no_overlap(graph)
    box = boxes(graph).values()
    width = max(b[2] for b in box) - min(b[0] for b in box)
    height = max(b[3] for b in box) - min(b[1] for b in box)
    single = presets.load(path)
    auto_layout(single, only_missing=False)
    single_box = boxes(single).values()
    single_width = max(b[2] for b in single_box) - min(b[0] for b in single_box)
    single_height = max(b[3] for b in single_box) - min(b[1] for b in single_box)
    assert min(730 / width, 580 / height) >= min(730 / single_width, 580 / single_height)


def test_a_long_chain_is_folded_into_bands_and_a_short_one_is_not():
    chain = presets.load(REPO / "presets" / "video_swap.json")  # 8 columns
    auto_layout(chain, only_missing=False, view=(730, 580))
    assert len({round(spec.pos[1] // 300) for spec in chain.nodes.values()}) >= 2, "not folded"
    demo = presets.load(REPO / "presets" / "demo.json")  # 3 columns fit side by side
    auto_layout(demo, only_missing=False, view=(730, 580))
    assert len({spec.pos[1] for spec in demo.nodes.values()}) <= 2 and \
        demo.nodes["pattern"].pos[0] < demo.nodes["adjust"].pos[0] < demo.nodes["out"].pos[0]


def test_wires_that_skip_columns_get_a_gap_and_branches_do_not_cross():
    graph = presets.load(REPO / "presets" / "two_faces.json")
    layers = columns(graph)
    slots = [n for layer in layers for n in layer if n.startswith("\0")]
    assert slots and all(s.startswith("\0source\0") or s.startswith("\0colour_right\0") for s in slots)
    auto_layout(graph, only_missing=False)
    y = {n: spec.pos[1] for n, spec in graph.nodes.items()}
    # the left branch stays above the right one all the way: no crossing between them
    for left, right in (("select_left", "select_right"), ("swap_left", "swap_right"),
                        ("colour_left", "colour_right")):
        assert y[left] < y[right]


def test_only_missing_places_new_nodes_below_the_placed_ones():
    graph = presets.load(REPO / "presets" / "demo.json")
    graph.nodes["adjust"].pos = None
    assert auto_layout(graph) == ["adjust"]
    lowest = max(graph.nodes[n].pos[1] + estimated_size(graph, n)[1] for n in ("pattern", "out"))
    assert graph.nodes["adjust"].pos[1] > lowest


def test_the_readme_lists_every_control_the_help_window_shows():
    from nodegraph.editor.help import markdown_table

    assert markdown_table() in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
@pytest.mark.parametrize("view", [(730, 580), (500, 700), (1000, 400), (400, 300)])
def test_no_fold_leaves_a_column_alone_in_its_band(path, view):
    graph = presets.load(path)
    layers = columns(graph)
    size = {n: estimated_size(graph, n) for n in graph.nodes}
    widths = [max((size[n][0] for n in layer if n in size), default=0.0) for layer in layers]
    heights = [sum(size[n][1] if n in size else 36 for n in layer) for layer in layers]
    bands = best_bands(widths, heights, view, corner=0.2)
    assert [i for band in bands for i in band] == list(range(len(layers)))
    assert len(bands) == 1 or all(len(band) >= 2 for band in bands), bands


def test_the_fold_keeps_the_bottom_right_corner_clear_where_it_can():
    # five equal columns: cut 3 + 2, the short band last, so the minimap's corner stays empty
    bands = best_bands([200.0] * 5, [250.0] * 5, (700, 700), corner=0.2)
    assert [len(b) for b in bands] == [3, 2]


def test_a_link_back_to_the_next_band_is_measured_past_both_nodes():
    # imnodes draws a link with handles a quarter of its length out of each pin: one from the end of a band back
    # to the start of the next loops out past the canvas's left edge unless the fit leaves room for it
    from nodegraph.editor.view import link_span
    left, right = link_span((600, 0, 700, 100), (0, 300, 100, 400))
    assert left < 0 - 15 and right > 700 + 15
    # a link forward stays between its pins, on the outlines 8 px out of the boxes
    assert link_span((0, 0, 100, 100), (300, 0, 400, 100), zoom=0.5) == (58, 142)
