"""DFMSwapper and InSwapper on real portraits, with small ONNX models that have the real tensors."""

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from swap_models import (
    OTHER_PORTRAIT,
    PORTRAIT,
    arcface_model,
    dfm_model,
    face_region,
    inswapper_model,
    portrait_faces,
    registry_with_faces,
)

from nodegraph.errors import InvalidInput
from nodegraph.graph import Graph, Link
from nodegraph.sequential import SequentialRunner
from nodes.face.align import align_5pt, face_frame_matrix, five_points_from_landmarks
from nodes.onnx_models import last_initializer
from nodes.swap import DFMSwapper, InSwapper
from nodes.swap_common import crop_geometry, five_points


def dfm(tmp_path, name="face.dfm", **params):
    node = DFMSwapper("swap", {"model": str(tmp_path / name), **params})
    node.setup()
    return node


def inswapper(tmp_path, identity=PORTRAIT, swapper_gain=(1.0, 1.0, 1.0), **params):
    swapper = inswapper_model(tmp_path / "tiny_inswapper.onnx", gain=swapper_gain)
    recogniser, _, _ = arcface_model(tmp_path / "tiny_arcface.onnx")
    node = InSwapper("swap", {"identity": str(identity), "model": str(swapper), "recogniser": str(recogniser),
                              **params})
    node.setup()
    return node


def inswapper_node(model, recogniser):
    return InSwapper("swap", {"identity": str(PORTRAIT), "model": str(model), "recogniser": str(recogniser)})


def run_swap_graph(tmp_path, swapper_type, swapper_params, merger_params, more_links=()):
    """ImageSource(portrait) -> faces (BlazeFace + FaceMesh) -> swapper -> FaceMerger -> PNG, and
    `more_links` ("node.port node.port"); returns the merged frame and the runner (for previews)."""
    graph = Graph()
    graph.add_node("ImageSource", {"path": str(PORTRAIT)}, node_id="src")
    graph.add_node("PortraitFaces", {}, node_id="faces")
    graph.add_node(swapper_type, swapper_params, node_id="swap")
    graph.add_node("FaceMerger", merger_params, node_id="merge")
    graph.add_node("ImageSequenceOutput", {"path": str(tmp_path / "out")}, node_id="out")
    for link in ("src.frame faces.frame", "src.frame swap.frame", "faces.faces swap.faces",
                 "src.frame merge.frame", "swap.faces merge.faces", "merge.frame out.frame", *more_links):
        graph.add_link(Link.parse(*link.split()))
    runner = SequentialRunner(graph, registry_with_faces(), frames=1)
    report = runner.run()
    assert report.frames == 1 and not report.error
    assert all(s["errors"] == 0 for s in report.nodes.values()), report.nodes
    return cv2.imread(str(tmp_path / "out" / "frame_000000.png")), runner


def assert_reproduces(merged, original, face):
    """An identity swap pasted back gives the original within resampling error: small on average over
    the face, exact away from the face crop."""
    diff = np.abs(merged.astype(np.int16) - original.astype(np.int16))
    ys, xs = face_region(face, original.shape)
    assert diff[ys, xs].mean() < 2.0, diff[ys, xs].mean()
    assert np.percentile(diff[ys, xs], 99) < 25
    assert diff.mean() < 1.0
    assert diff[:20].max() == 0 and diff[-20:].max() == 0  # far from the face nothing is touched


# -- DFMSwapper ---------------------------------------------------------------------------------

def test_dfm_identity_model_merged_back_reproduces_the_portrait(tmp_path):
    dfm_model(tmp_path / "face.dfm")
    merged, runner = run_swap_graph(tmp_path, "DFMSwapper", {"model": str(tmp_path / "face.dfm")},
                                    {"mask": "swap", "erode": 0, "blur": 0})
    original, faces = portrait_faces()
    assert_reproduces(merged, original, faces[0])
    tile = runner.preview("swap")  # driver crop | swap | mask
    assert tile.shape == (128, 384, 3) and tile.dtype == np.uint8
    assert np.abs(tile[:, :128].astype(int) - tile[:, 128:256]).mean() < 1.0  # identity: swap == driver
    assert tile[:, 256:].min() == 255  # the model's masks are ones
    np.testing.assert_array_equal(runner.preview("merge"), merged)


def test_dfm_feeds_bgr_0_to_1_and_applies_gamma(tmp_path):
    dfm_model(tmp_path / "face.dfm", gain=(0.5, 1.0, 1.0))  # halves channel 0 of the model's BGR input
    frame, faces = portrait_faces()
    node = dfm(tmp_path)
    face = node.process(frame=frame, faces=faces)["faces"][0]
    assert face["swap"].shape == (224, 224, 3) and face["swap_mask"].shape == (224, 224)
    driver = crop_geometry(frame, face["swap_matrix"], 224).astype(np.float32)
    swap = face["swap"].astype(np.float32)
    assert np.abs(swap[..., 0] - driver[..., 0] * 0.5).max() <= 1.0  # blue halved
    assert np.abs(swap[..., 1:] - driver[..., 1:]).max() <= 1.0
    dfm_model(tmp_path / "plain.dfm")
    node = dfm(tmp_path, "plain.dfm", gamma_in=2.0, gamma_out=0.5)  # x -> x^(1/2) -> (x^(1/2))^2: identity
    swap = node.process(frame=frame, faces=faces)["faces"][0]["swap"].astype(np.float32)
    assert np.abs(swap - driver).mean() < 1.0
    node = dfm(tmp_path, "plain.dfm", gamma_out=2.0)
    swap = node.process(frame=frame, faces=faces)["faces"][0]["swap"].astype(np.float32)
    assert np.abs(swap - 255 * np.sqrt(driver / 255)).max() <= 1.5


def test_dfm_passes_morph_factor_to_amp_models(tmp_path):
    dfm_model(tmp_path / "amp.dfm", morph=True)  # celeb mask = ones * morph_value
    frame, faces = portrait_faces()
    node = dfm(tmp_path, "amp.dfm", morph_factor=0.3)
    assert node.has_morph
    mask = node.process(frame=frame, faces=faces)["faces"][0]["swap_mask"]
    np.testing.assert_allclose(mask, 0.3, atol=1e-6)
    node.set_param("morph_factor", 0.9)
    mask = node.process(frame=frame, faces=faces)["faces"][0]["swap_mask"]
    np.testing.assert_allclose(mask, 0.9, atol=1e-6)


def test_dfm_aligns_from_landmarks_or_keypoints_or_reuses_the_aligner_crop(tmp_path):
    dfm_model(tmp_path / "face.dfm")
    frame, faces = portrait_faces()
    node = dfm(tmp_path)
    from_landmarks = node.process(frame=frame, faces=faces)["faces"][0]["swap_matrix"]
    np.testing.assert_allclose(from_landmarks, face_frame_matrix(faces[0]["landmarks"], 2.2, 224), atol=1e-4)
    keypoints_only = {k: v for k, v in faces[0].items() if k != "landmarks"}
    from_keypoints = node.process(frame=frame, faces=[keypoints_only])["faces"][0]["swap_matrix"]
    corners = np.float64([[0, 0, 1], [224, 0, 1], [0, 224, 1], [224, 224, 1]])
    in_frame = [corners @ np.vstack([cv2.invertAffineTransform(m.astype(np.float64)), [0, 0, 1]]).T
                for m in (from_landmarks, from_keypoints)]
    assert np.abs(in_frame[0] - in_frame[1]).max() < 0.08 * 224 / 1.29  # within 8% of the crop
    aligner_matrix = face_frame_matrix(faces[0]["landmarks"], 1.8, 224)
    aligned = {**faces[0], "crop": crop_geometry(frame, aligner_matrix, 224), "matrix": aligner_matrix}
    reused = node.process(frame=frame, faces=[aligned])["faces"][0]
    np.testing.assert_allclose(reused["swap_matrix"], aligner_matrix, atol=1e-5)
    no_points = {"box": faces[0]["box"], "score": 1.0}
    assert "swap" not in node.process(frame=frame, faces=[no_points])["faces"][0]


def test_dfm_swaps_one_face_by_index_and_never_mutates_records(tmp_path):
    dfm_model(tmp_path / "face.dfm")
    frame, faces = portrait_faces()
    two = [faces[0], {**faces[0]}]
    keys_before = [set(f) for f in two]
    node = dfm(tmp_path, swap="one", face_index=1)
    out = node.process(frame=frame, faces=two)["faces"]
    assert "swap" not in out[0] and "swap" in out[1]
    assert out[0] is two[0]
    assert [set(f) for f in two] == keys_before  # inputs untouched
    node.set_param("face_index", 5)
    assert all("swap" not in f for f in node.process(frame=frame, faces=two)["faces"])
    assert node.process(frame=frame, faces=[])["faces"] == []


@pytest.mark.parametrize("kind, found", [
    ("input name", "input [N, 224, 224, 3]"),
    ("nchw", "in_face:0 [N, 3, 224, 224]"),
    ("missing output", "out_face_mask:0 [N, 224, 224, 1], out_celeb_face:0 [N, 224, 224, 3]; outputs"),
])
def test_dfm_refuses_a_model_with_other_tensors_naming_expected_and_found(tmp_path, kind, found):
    path = tmp_path / "wrong.dfm"
    if kind == "input name":
        dfm_model(path, input_name="input")
    elif kind == "nchw":
        dfm_model(path, input_shape=["N", 3, 224, 224], gain=[[[1.0]]], bias=[[[0.0]]])
    else:
        dfm_model(path, outputs=("out_face_mask:0", "out_celeb_face:0", "something_else"))
    with pytest.raises(InvalidInput) as error:
        dfm(tmp_path, "wrong.dfm")
    message = str(error.value)
    assert str(path) in message and "not a DeepFaceLive .dfm swapper" in message
    assert "Expected inputs in_face:0 [N, res, res, 3]" in message
    assert "out_celeb_face_mask:0 [N, res, res, 1]" in message
    if kind == "missing output":
        assert ("outputs: out_face_mask:0 [N, 224, 224, 1], out_celeb_face:0 [N, 224, 224, 3], "
                "something_else [N, 224, 224, 1]") in message
    else:
        assert f"Found inputs: {found}" in message


def test_dfm_model_by_bare_name_from_the_user_model_folder(tmp_path, monkeypatch):
    folder = tmp_path / "user_models"
    folder.mkdir()
    dfm_model(folder / "mine.dfm", res=96)
    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(folder))
    preset_dir = tmp_path / "preset"
    node = DFMSwapper("swap", {"model": "mine.dfm"})
    node.base_dir = preset_dir
    node.setup()
    assert node.resolution == 96 and node.model_path == folder / "mine.dfm"
    # The graph keeps a model name as written and validates it through the model hub.
    from nodegraph.graph import Graph
    from nodegraph.registry import default_registry

    graph = Graph(base_dir=preset_dir)
    graph.add_node("DFMSwapper", {"model": "mine.dfm"}, node_id="swap")
    graph.add_node("DFMSwapper", {"model": "absent.dfm"}, node_id="other")
    assert graph.resolved_params("swap", default_registry())["model"] == "mine.dfm"
    problems = [str(p) for p in graph.validate(default_registry()) if p.param == "model"]
    assert len(problems) == 1
    assert "node 'other' (DFMSwapper), param 'model': model file 'absent.dfm' not found" in problems[0]
    node = DFMSwapper("swap", {"model": "absent.dfm"})
    with pytest.raises(InvalidInput, match=r"node 'swap' \(DFMSwapper\), param 'model': model file "
                                           r"'absent.dfm' not found .* user model folder"):
        node.setup()


# -- InSwapper -------------------------------------------------------------------------------------

def test_inswapper_identity_embedding_is_arcface_times_emap_normalised(tmp_path):
    node = inswapper(tmp_path)
    _, weights, bias = arcface_model(tmp_path / "again.onnx")
    emap = last_initializer(tmp_path / "tiny_inswapper.onnx")
    portrait, faces = portrait_faces()
    crop, _ = align_5pt(portrait, five_points_from_landmarks(faces[0]["landmarks"]), 112)
    rgb_mean = ((crop[..., ::-1].astype(np.float64) - 127.5) / 127.5).reshape(-1, 3).mean(axis=0)
    latent = (rgb_mean @ weights + bias) @ emap
    np.testing.assert_allclose(node.latent[0], latent / np.linalg.norm(latent), atol=2e-4)
    before = node.latent.copy()
    node.set_param("identity", str(OTHER_PORTRAIT))
    assert node.latent.shape == (1, 512) and abs(np.linalg.norm(node.latent) - 1) < 1e-5
    assert np.abs(node.latent - before).max() > 1e-3


def test_inswapper_feeds_rgb_0_to_1_and_merges_back(tmp_path):
    node = inswapper(tmp_path, swapper_gain=(1.0, 1.0, 0.5))  # halves the blue of the model's RGB input
    frame, faces = portrait_faces()
    face = node.process(frame=frame, faces=faces)["faces"][0]
    _, matrix = align_5pt(frame, five_points(faces[0]), 128)
    np.testing.assert_allclose(face["swap_matrix"], matrix, atol=1e-5)
    crop = crop_geometry(frame, matrix, 128).astype(np.float32)
    swap = face["swap"].astype(np.float32)
    assert np.abs(swap[..., 0] - crop[..., 0] * 0.5).max() <= 1.0  # BGR channel 0 is blue
    assert np.abs(swap[..., 1:] - crop[..., 1:]).max() <= 1.0
    mask = face["swap_mask"]
    assert mask.shape == (128, 128) and mask[64, 64] == 1.0 and mask[0, 0] == 0

    swapper = inswapper_model(tmp_path / "plain_inswapper.onnx")
    recogniser, _, _ = arcface_model(tmp_path / "tiny_arcface.onnx")
    params = {"identity": str(OTHER_PORTRAIT), "model": str(swapper), "recogniser": str(recogniser),
              "mask": "hull"}
    merged, runner = run_swap_graph(tmp_path, "InSwapper", params, {"mask": "swap", "erode": 0, "blur": 0})
    assert_reproduces(merged, frame, faces[0])
    assert runner.preview("swap").shape == (128, 384, 3)


def test_inswapper_refuses_mismatched_models_naming_expected_and_found(tmp_path):
    recogniser, _, _ = arcface_model(tmp_path / "tiny_arcface.onnx")
    bad_emap = inswapper_model(tmp_path / "bad_emap.onnx", emap=np.ones((512, 7), np.float32))
    with pytest.raises(InvalidInput) as error:
        inswapper_node(bad_emap, recogniser).setup()
    message = str(error.value)
    assert str(bad_emap) in message and "D x D emap" in message
    assert "last initializer (emap) shape [512, 7]" in message
    found = "Found inputs: target [1, 3, 128, 128], source [1, 512]; outputs: output [1, 3, 128, 128]"
    assert found in message

    swapper = inswapper_model(tmp_path / "tiny_inswapper.onnx")
    small, _, _ = arcface_model(tmp_path / "small_arcface.onnx", dim=256)
    with pytest.raises(InvalidInput) as error:
        inswapper_node(swapper, small).setup()
    message = str(error.value)
    assert str(small) in message and "not an ArcFace recogniser" in message
    assert "one output [N, 512]" in message and "outputs: 683 [1, 256]" in message

    dfm_path = dfm_model(tmp_path / "face.dfm")
    with pytest.raises(InvalidInput, match=r"inputs target \[1, 3, S, S\].*Found inputs: in_face:0"):
        inswapper_node(dfm_path, recogniser).setup()


def test_a_model_exported_with_open_sizes_is_said_to_be_one(tmp_path):
    # "Found inputs: target [1, 3, N, N]" against "Expected target [1, 3, S, S]" did not say what was wrong
    swapper = inswapper_model(tmp_path / "dynamic_inswapper.onnx")
    model = onnx.load(str(swapper))
    for tensor in (model.graph.input[0], model.graph.output[0]):
        for dim, name in zip(tensor.type.tensor_type.shape.dim[2:], ("height", "width"), strict=True):
            dim.dim_param = name
    onnx.save(model, str(swapper))
    recogniser, _, _ = arcface_model(tmp_path / "tiny_arcface.onnx")
    problems = InSwapper.check(inswapper_node(swapper, recogniser).values, tmp_path)
    assert len(problems) == 1 and problems[0].param == "model"
    assert "Found inputs: target [1, 3, N, N]" in problems[0].message
    assert problems[0].message.endswith("N beyond the first axis is a size the file leaves open (exported with "
                                        "dynamic axes): the node takes its crop size from the file, so export the "
                                        "model at a fixed size")
    assert "leaves open" not in InSwapper.check(inswapper_node(dfm_model(tmp_path / "face.dfm"), recogniser).values,
                                                tmp_path)[0].message  # a batch size left open is no reason


def test_inswapper_identity_without_a_face_is_refused(tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(InvalidInput, match=r"param 'identity': .*wall.png: no face found"):
        inswapper(tmp_path, identity=blank)


# -- reading the emap ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [True, False])
def test_last_initializer_is_the_graphs_last_weight(tmp_path, raw):
    first = np.arange(6, dtype=np.float32).reshape(2, 3)
    last = np.random.default_rng(3).normal(size=(4, 5)).astype(np.float32)
    values = last.tobytes() if raw else last.ravel()
    tensor = helper.make_tensor("last", TensorProto.FLOAT, last.shape, values, raw=raw)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                              [numpy_helper.from_array(first, "first"), tensor])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    read = last_initializer(path)
    assert read.dtype == np.float32
    np.testing.assert_array_equal(read, last)
    not_onnx = tmp_path / "photo.onnx"
    not_onnx.write_bytes(b"\xff\xd8\xff\xe0 not a protobuf at all")
    with pytest.raises(InvalidInput, match="photo.onnx"):
        last_initializer(not_onnx)
