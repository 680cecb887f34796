"""FaceMerger: swapped faces pasted back; the frame goes out unchanged when there is nothing to paste."""

import numpy as np
import pytest
from swap_models import dfm_model, face_region, portrait_faces

from nodegraph.execution import call_node
from nodegraph.stats import NodeStats
from nodes.merge import FaceMerger
from nodes.swap import DFMSwapper


@pytest.fixture(scope="module")
def swapped(tmp_path_factory):
    """(frame, faces with an identity swap, faces with a tinted swap)."""
    folder = tmp_path_factory.mktemp("models")
    frame, faces = portrait_faces()
    result = [frame, faces]
    for name, params in (("same.dfm", {}), ("tint.dfm", {"gain": (0.5, 0.5, 1.0)})):
        swapper = DFMSwapper("swap", {"model": str(dfm_model(folder / name, **params))})
        swapper.setup()
        result.append(swapper.process(frame=frame, faces=faces)["faces"])
    return result[0], result[2], result[3]


def merge(frame, faces, **params):
    return FaceMerger("merge", params).process(frame=frame, faces=faces)["frame"]


def changed(merged, frame) -> np.ndarray:
    return np.abs(merged.astype(np.int16) - frame).max(axis=2) > 3


def test_no_face_or_no_swap_sends_the_frame_out_unchanged(swapped):
    frame, faces, _ = swapped
    assert merge(frame, []) is frame
    unswapped = [{k: v for k, v in faces[0].items() if not k.startswith("swap")}]
    assert merge(frame, unswapped) is frame


def test_identity_swap_with_default_mask_reproduces_the_frame(swapped):
    frame, faces, _ = swapped
    for blend in ("alpha", "poisson"):
        merged = merge(frame, faces, blend=blend)
        diff = np.abs(merged.astype(np.int16) - frame)
        ys, xs = face_region(faces[0], frame.shape)
        assert diff[ys, xs].mean() < 2.0 and diff.mean() < 0.5, (blend, diff[ys, xs].mean())
    np.testing.assert_array_equal(merge(frame, faces, opacity=0.0), frame)


def test_mask_sources_and_erode_decide_where_the_face_goes(swapped):
    frame, _, tinted = swapped
    area = {}
    for source in ("swap", "hull", "both"):
        area[source] = changed(merge(frame, tinted, mask=source, erode=0, blur=0), frame).sum()
    # the model's masks are ones over the whole 2.2-coverage crop; the hull is the face only
    assert area["swap"] > 2.5 * area["hull"] and area["both"] == area["hull"]
    by_erode = [changed(merge(frame, tinted, mask="hull", erode=e, blur=0), frame).sum()
                for e in (-12, 0, 12)]
    assert by_erode[0] > by_erode[1] > by_erode[2] > 0


def test_offset_scale_and_opacity(swapped):
    frame, _, tinted = swapped

    def centre_and_area(**params):
        ys, xs = np.nonzero(changed(merge(frame, tinted, mask="hull", erode=0, blur=0, **params), frame))
        return np.array([xs.mean(), ys.mean()]), len(xs)

    centre, area = centre_and_area()
    moved, _ = centre_and_area(offset_x=0.1, offset_y=-0.05)
    _, bigger = centre_and_area(face_scale=1.2)
    crop_to_frame = 1 / np.hypot(*tinted[0]["swap_matrix"][0, :2])  # frame px per crop px
    shift = moved - centre
    assert abs(shift[0] - 0.1 * 224 * crop_to_frame) < 3 and abs(shift[1] + 0.05 * 224 * crop_to_frame) < 3
    assert 1.3 < bigger / area < 1.6  # area grows with the square of the scale
    full, half = merge(frame, tinted, erode=0, blur=0), merge(frame, tinted, erode=0, blur=0, opacity=0.5)
    inside = changed(full, frame)
    expected = (full.astype(np.float32) + frame) / 2
    assert np.abs(half[inside] - expected[inside]).max() <= 1.0


def test_a_face_that_cannot_be_pasted_passes_the_frame_through(swapped):
    frame, faces, _ = swapped
    broken = [{**faces[0], "swap_matrix": np.zeros((2, 3), np.float32)}]  # not invertible
    node, stats = FaceMerger("merge", {}), NodeStats()
    out = call_node(node, {"frame": frame, "faces": broken}, stats)
    assert out["frame"] is frame and stats.errors == 1 and "invertible" in stats.last_error


def test_preview_is_the_merged_frame(swapped):
    frame, faces, _ = swapped
    node = FaceMerger("merge", {})
    outputs = node.process(frame=frame, faces=faces)
    assert node.preview(outputs) is outputs["frame"]
