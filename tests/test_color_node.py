"""ColorTransfer: a swap with the wrong colours is brought back to the driver's under the face mask."""

import cv2
import numpy as np
import pytest
from swap_models import PORTRAIT, dfm_model, face_region, portrait_faces, registry_with_faces

from nodegraph.graph import Graph, Link
from nodegraph.sequential import SequentialRunner
from nodes.color import ColorTransfer, transfer_mask
from nodes.swap import DFMSwapper
from nodes.swap_common import crop_geometry

TINT = {"gain": (0.7, 0.9, 1.25), "bias": (0.12, 0.0, -0.1)}  # a bluish, darker-red swap, per BGR channel


@pytest.fixture(scope="module")
def tinted(tmp_path_factory):
    """(frame, faces with a tinted swap) from a .dfm-like model that recolours the driver's face."""
    path = dfm_model(tmp_path_factory.mktemp("models") / "tint.dfm", **TINT)
    swapper = DFMSwapper("swap", {"model": str(path)})
    swapper.setup()
    frame, faces = portrait_faces()
    return frame, swapper.process(frame=frame, faces=faces)["faces"], path


def lab_gap(face, frame) -> float:
    """Mean L*a*b* distance between the swap and the driver's pixels, inside the transfer mask."""
    size = face["swap"].shape[0]
    inside = transfer_mask(face, size) > 0.5
    lab = [cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[inside]
           for image in (face["swap"], crop_geometry(frame, face["swap_matrix"], size))]
    return float(np.linalg.norm(lab[0].mean(axis=0) - lab[1].mean(axis=0)))


@pytest.mark.parametrize("mode", ["rct", "lct", "mkl", "idt", "sot"])
def test_every_mode_brings_the_swap_back_to_the_driver_colours(tinted, mode):
    frame, faces, _ = tinted
    before = lab_gap(faces[0], frame)
    swap_before = faces[0]["swap"].copy()
    out = ColorTransfer("colour", {"mode": mode}).process(frame=frame, faces=faces)["faces"]
    after = lab_gap(out[0], frame)
    assert before > 10 and after < 1.0, (before, after)
    np.testing.assert_array_equal(faces[0]["swap"], swap_before)  # the received record is untouched
    assert out[0] is not faces[0] and out[0]["swap_matrix"] is faces[0]["swap_matrix"]


def test_strength_none_and_faces_without_swap(tinted):
    frame, faces, _ = tinted
    full = ColorTransfer("c", {"mode": "rct", "strength": 1.0}).process(frame=frame, faces=faces)["faces"][0]
    half = ColorTransfer("c", {"mode": "rct", "strength": 0.5}).process(frame=frame, faces=faces)["faces"][0]
    expected = (full["swap"].astype(np.float32) + faces[0]["swap"]) / 2
    assert np.abs(half["swap"] - expected).max() <= 1.0
    for params in ({"mode": "none"}, {"mode": "rct", "strength": 0.0}):
        out = ColorTransfer("c", params).process(frame=frame, faces=faces)["faces"][0]
        np.testing.assert_array_equal(out["swap"], faces[0]["swap"])
    plain = {k: v for k, v in faces[0].items() if not k.startswith("swap")}
    assert ColorTransfer("c", {}).process(frame=frame, faces=[plain])["faces"] == [plain]


def test_detail_keeps_the_swaps_fine_lightness_under_a_shaded_driver(tinted):
    """The driver in shade (half its lightness contrast): with detail 1 the recoloured swap keeps more of
    its own fine lightness (L* less its blur) than with 0, the default 0.5 in between."""
    frame, faces, _ = tinted
    shaded = cv2.convertScaleAbs(frame, alpha=0.5, beta=30)
    inside = transfer_mask(faces[0], faces[0]["swap"].shape[0]) > 0.5

    def fine_spread(swap):
        lightness = cv2.cvtColor(swap, cv2.COLOR_BGR2Lab)[..., 0].astype(np.float32)
        return float((lightness - cv2.GaussianBlur(lightness, (0, 0), 4))[inside].std())

    spread = {detail: fine_spread(ColorTransfer("c", {} if detail is None else {"detail": detail})
                                  .process(frame=shaded, faces=faces)["faces"][0]["swap"])
              for detail in (0.0, None, 1.0)}
    assert spread[0.0] < spread[None] < spread[1.0] and spread[1.0] > 1.3 * spread[0.0], spread


def test_mask_is_the_swap_mask_times_the_landmark_hull(tinted):
    _, faces, _ = tinted
    mask = transfer_mask(faces[0], 224)
    assert mask.shape == (224, 224)
    assert mask[112, 112] == 1.0 and mask[0, 0] == 0.0 and mask[223, 223] == 0.0  # background excluded
    no_landmarks = {k: v for k, v in faces[0].items() if k != "landmarks"}
    np.testing.assert_array_equal(transfer_mask(no_landmarks, 224), faces[0]["swap_mask"])


def test_colour_transfer_in_a_graph_makes_the_merged_face_match_the_portrait(tinted, tmp_path):
    _, _, model = tinted
    merged = {}
    for mode in ("none", "rct"):
        graph = Graph()
        graph.add_node("ImageSource", {"path": str(PORTRAIT)}, node_id="src")
        graph.add_node("PortraitFaces", {}, node_id="faces")
        graph.add_node("DFMSwapper", {"model": str(model)}, node_id="swap")
        graph.add_node("ColorTransfer", {"mode": mode}, node_id="colour")
        graph.add_node("FaceMerger", {}, node_id="merge")
        graph.add_node("ImageSequenceOutput", {"path": str(tmp_path / mode)}, node_id="out")
        for link in ("src.frame faces.frame", "src.frame swap.frame", "faces.faces swap.faces",
                     "src.frame colour.frame", "swap.faces colour.faces", "src.frame merge.frame",
                     "colour.faces merge.faces", "merge.frame out.frame"):
            graph.add_link(Link.parse(*link.split()))
        runner = SequentialRunner(graph, registry_with_faces(), frames=1)
        report = runner.run()
        assert report.frames == 1 and all(s["errors"] == 0 for s in report.nodes.values()), report.nodes
        merged[mode] = cv2.imread(str(tmp_path / mode / "frame_000000.png")).astype(np.float32)
        if mode == "rct":
            assert runner.preview("colour").shape == (128, 384, 3)
    original, faces = portrait_faces()
    ys, xs = face_region(faces[0], original.shape)
    error = {mode: np.abs(image[ys, xs] - original[ys, xs]).mean() for mode, image in merged.items()}
    assert error["none"] > 15 and error["rct"] < error["none"] / 3, error
