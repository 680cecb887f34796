"""HyperSwapper, SimSwapper and pixel boost (every swapper), on real portraits, with small ONNX stand-ins
that have the real models' tensor names and shapes (the real weights cannot be had here)."""

import threading

import numpy as np
import onnx
import pytest
from conftest import REPO
from onnx import numpy_helper
from runtime_nodes import wait_until
from swap_models import (
    PORTRAIT,
    arcface_model,
    converter_model,
    hyperswap_model,
    inswapper_model,
    portrait_faces,
    registry_with_faces,
    simswap_model,
)
from test_swap_adapters import assert_reproduces, run_swap_graph

from nodegraph.errors import InvalidInput
from nodegraph.graph import Graph, Link
from nodegraph.sequential import SequentialRunner
from nodes.face.align import (
    ARCFACE_TEMPLATE_112,
    arcface_template,
    five_points_from_landmarks,
    transform_points,
    umeyama,
)
from nodes.face.warp_templates import template_points
from nodes.hyperswap import HyperSwapper
from nodes.onnx_models import IMAGENET_MEAN, IMAGENET_STD
from nodes.pixel_boost import explode, implode
from nodes.simswap import SimSwapper
from nodes.swap import InSwapper
from nodes.swap_common import crop_geometry


@pytest.fixture
def models(tmp_path):
    recogniser, _, _ = arcface_model(tmp_path / "arcface.onnx")
    converter, weights = converter_model(tmp_path / "crossface.onnx")
    return {"recogniser": str(recogniser), "converter": str(converter), "converter_weights": weights,
            "hyperswap": str(hyperswap_model(tmp_path / "hyperswap.onnx")),
            "simswap_256": str(simswap_model(tmp_path / "simswap_256.onnx", 256, mean=IMAGENET_MEAN,
                                             std=IMAGENET_STD)),
            "simswap_512": str(simswap_model(tmp_path / "simswap_512.onnx", 512))}


def hyper(models, model=None, **params):
    node = HyperSwapper("swap", {"identity": str(PORTRAIT), "model": model or models["hyperswap"],
                                 "recogniser": models["recogniser"], **params})
    node.setup()
    return node


def sim(models, size=256, **params):
    node = SimSwapper("swap", {"identity": str(PORTRAIT), "model": models[f"simswap_{size}"],
                               "recogniser": models["recogniser"], "converter": models["converter"], **params})
    node.setup()
    return node


def swapped(node):
    frame, faces = portrait_faces()
    return frame, faces, node.process(frame=frame, faces=faces)["faces"][0]


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_implode_takes_every_kth_pixel_and_explode_puts_them_back(factor):
    crop = np.random.default_rng(factor).integers(0, 255, (8 * factor, 8 * factor, 3), np.uint8)
    tiles = implode(crop, factor)
    assert tiles.shape == (factor * factor, 8, 8, 3)
    np.testing.assert_array_equal(tiles[factor + 1 if factor > 1 else 0],
                                  crop[1 if factor > 1 else 0::factor, 1 if factor > 1 else 0::factor])
    np.testing.assert_array_equal(explode(tiles, factor), crop)


def test_hyperswap_crop_template_normalisation_and_identity(models):
    node = hyper(models)
    frame, faces, face = swapped(node)
    five = five_points_from_landmarks(faces[0]["landmarks"])
    assert face["swap"].shape == (256, 256, 3) and face["swap_mask"].shape == (256, 256)
    # FaceFusion's arcface_128 at 256 px is inswapper's ArcFace template scaled: the eyes, nose and mouth land there
    np.testing.assert_allclose(template_points("arcface_128", 256), arcface_template(256), atol=1e-3)
    np.testing.assert_allclose(template_points("arcface_112_v2", 112), ARCFACE_TEMPLATE_112, atol=1e-3)
    fit = umeyama(five, template_points("arcface_128", 256))[:2]
    np.testing.assert_allclose(face["swap_matrix"], fit, rtol=1e-5, atol=1e-3)
    assert np.abs(transform_points(five, fit) - template_points("arcface_128", 256)).max() < 0.05 * 256
    crop = crop_geometry(frame, face["swap_matrix"], 256)
    assert np.abs(face["swap"].astype(int) - crop).max() <= 1  # (x - .5) / .5 in, x * .5 + .5 out: identity
    embedding = node.recogniser_model.portrait_embedding(str(PORTRAIT), "test")
    np.testing.assert_allclose(node.source[0], embedding / np.linalg.norm(embedding), atol=1e-6)


def test_hyperswap_merged_back_reproduces_the_portrait_and_model_mask(tmp_path, models):
    params = {"identity": str(PORTRAIT), "model": models["hyperswap"], "recogniser": models["recogniser"],
              "mask": "hull"}
    merged, runner = run_swap_graph(tmp_path, "HyperSwapper", params, {"mask": "swap", "erode": 0, "blur": 0})
    frame, faces = portrait_faces()
    assert_reproduces(merged, frame, faces[0])
    assert runner.preview("swap").shape == (128, 384, 3)
    node = hyper(models)
    node.set_param("mask", "model")  # live edits, between frames
    node.set_param("pixel_boost", "512")
    mask = swapped(node)[2]["swap_mask"]
    assert mask.shape == (512, 512)
    np.testing.assert_allclose(mask, 0.75, atol=1e-6)  # the stand-in's mask output, put back together
    with pytest.raises(InvalidInput, match="pixel_boost 384 is not a multiple of the model's 256 px"):
        node.set_param("pixel_boost", "384")


def test_simswap_256_imagenet_and_512_plain_on_arcface_112_v1_with_converted_identity(models):
    for size in (256, 512):
        node = sim(models, size)
        frame, faces, face = swapped(node)
        five = five_points_from_landmarks(faces[0]["landmarks"])
        assert face["swap"].shape == (size, size, 3)
        fit = umeyama(five, template_points("arcface_112_v1", size))[:2]
        np.testing.assert_allclose(face["swap_matrix"], fit, rtol=1e-5, atol=1e-3)
        crop = crop_geometry(frame, face["swap_matrix"], size)
        # the stand-in undoes exactly the normalisation the node must apply: ImageNet's at 256, none at 512
        assert np.abs(face["swap"].astype(int) - crop).max() <= 1, size
    embedding = node.recogniser_model.portrait_embedding(str(PORTRAIT), "test")
    converted = embedding @ models["converter_weights"]
    np.testing.assert_allclose(node.source[0], converted / np.linalg.norm(converted), atol=1e-5)


@pytest.mark.parametrize("boost", ["512", "1024"])
def test_pixel_boost_runs_every_subsampled_tile_and_reassembles_exactly(tmp_path, models, boost):
    # a stand-in that adds a per-pixel pattern in its own 256 px grid: after boosting, crop pixel (y, x) must
    # carry the pattern of model pixel (y // k, x // k) of the tile that holds it (y % k, x % k)
    pattern = np.zeros((1, 3, 256, 256), np.float32)
    pattern[0, :, :, :] = np.where((np.arange(256)[None, :] // 16 + np.arange(256)[:, None] // 16) % 2, 0.2, -0.2)
    model = str(hyperswap_model(tmp_path / "pattern.onnx", bias=pattern))
    node = hyper(models, model=model, pixel_boost=boost)
    frame, _, face = swapped(node)
    size, factor = int(boost), int(boost) // 256
    assert face["swap"].shape == (size, size, 3) and face["swap_mask"].shape == (size, size)
    native = swapped(hyper(models, model=model))[2]["swap_matrix"]
    np.testing.assert_allclose(face["swap_matrix"], native * factor, rtol=1e-4, atol=1e-3)  # same crop, k x px
    crop = crop_geometry(frame, face["swap_matrix"], size).astype(np.float32)
    expected = np.clip(crop / 255 + 0.5 * np.repeat(np.repeat(pattern[0, 0], factor, 0), factor, 1)[..., None],
                       0, 1) * 255
    assert np.abs(face["swap"] - expected).max() <= 1.0


def test_inswapper_pixel_boost_reassembles_its_128_px_tiles(tmp_path):
    swapper = inswapper_model(tmp_path / "inswapper.onnx", gain=(1.0, 1.0, 0.5))
    recogniser, _, _ = arcface_model(tmp_path / "arcface.onnx")
    node = InSwapper("swap", {"identity": str(PORTRAIT), "model": str(swapper), "recogniser": str(recogniser),
                              "pixel_boost": "384"})
    node.setup()
    frame, faces, face = swapped(node)
    assert face["swap"].shape == (384, 384, 3) and face["swap_mask"].shape == (384, 384)
    crop = crop_geometry(frame, face["swap_matrix"], 384).astype(np.float32)
    assert np.abs(face["swap"][..., 0] - crop[..., 0] * 0.5).max() <= 1.0  # blue halved in every tile
    assert np.abs(face["swap"][..., 1:] - crop[..., 1:]).max() <= 1.0


def test_wrong_files_and_boosts_fail_at_check_and_setup_naming_expected_and_found(tmp_path, models):
    inswapper = str(inswapper_model(tmp_path / "inswapper.onnx"))
    cases = [
        (HyperSwapper, {"model": inswapper}, "model", "not a HyperSwap model",
         "Found inputs: target [1, 3, 128, 128], source [1, 512]; outputs: output [1, 3, 128, 128]"),
        (SimSwapper, {"model": models["hyperswap"]}, "model", "not a SimSwap model",
         "outputs: output [1, 3, 256, 256], mask [1, 1, 256, 256]"),
        (SimSwapper, {"model": inswapper}, "model", "S 256 or 512", "target [1, 3, 128, 128]"),
        (SimSwapper, {"model": models["simswap_256"], "converter": models["recogniser"]}, "converter",
         "not an embedding converter", "Found inputs: input.1 [N, 3, 112, 112]"),
        (HyperSwapper, {"model": models["hyperswap"], "pixel_boost": "384"}, "pixel_boost",
         "pixel_boost 384 is not a multiple of the model's 256 px", "native, 256, 512, 768, 1024"),
        (SimSwapper, {"model": models["simswap_512"], "pixel_boost": "768"}, "pixel_boost",
         "not a multiple of the model's 512 px", "choose one of native, 512, 1024"),
    ]
    for node_type, params, param, expected, found in cases:
        full = {"identity": str(PORTRAIT), "recogniser": models["recogniser"], **params}
        if node_type is SimSwapper:
            full.setdefault("converter", models["converter"])
        problems = [p for p in node_type.check(node_type("swap", full).values, tmp_path) if p.param == param]
        assert len(problems) == 1 and expected in problems[0].message and found in problems[0].message, problems
        with pytest.raises(InvalidInput) as error:
            node_type("swap", full).setup()
        assert expected in str(error.value) and found in str(error.value)


def test_a_model_of_another_family_is_said_to_be_one_and_where_it_goes(tmp_path, models):
    # "not an inswapper model this node can run ... Found ..." said what it was not, not what to do
    inswapper = str(inswapper_model(tmp_path / "inswapper.onnx"))
    cases = [(InSwapper, {"model": models["simswap_256"]}, "model", "a SimSwap or GHOST model (at 256 px the two "
              "have the same tensors): use it in the SimSwapper or GhostSwapper its name says"),
             (SimSwapper, {"model": models["hyperswap"]}, "model", "a HyperSwap or HiFiFace model (the two have "
              "the same tensors): use it in the HyperSwapper or HiFiFaceSwapper its name says"),
             (HyperSwapper, {"model": inswapper}, "model", "an inswapper model: use it in an InSwapper"),
             (HyperSwapper, {"recogniser": models["converter"]}, "recogniser",
              "an embedding converter: use it as the param 'converter' of the SimSwapper, GhostSwapper or "
              "HiFiFaceSwapper its name says"),
             (SimSwapper, {"converter": models["recogniser"]}, "converter",
              "an ArcFace recogniser: use it as a swapper's param 'recogniser'")]
    for node_type, params, param, use in cases:
        full = {"identity": str(PORTRAIT), "model": models["hyperswap"], "recogniser": models["recogniser"],
                "converter": models["converter"], **params}
        if node_type is not SimSwapper:
            del full["converter"]
        if node_type is SimSwapper and "model" not in params:
            full["model"] = models["simswap_256"]
        problems = [p for p in node_type.check(node_type("swap", full).values, tmp_path) if p.param == param]
        assert len(problems) == 1 and problems[0].message.endswith(f". Its tensors are those of {use}"), problems
    facemesh = {"identity": str(PORTRAIT), "model": str(REPO / "models" / "facemesh.onnx"),
                "recogniser": models["recogniser"]}
    problems = InSwapper.check(InSwapper("swap", facemesh).values, tmp_path)
    assert "Its tensors are" not in problems[0].message  # a model no node here runs gets no advice


def test_catalogue_entries_are_named_as_the_files_and_fetch_only_what_it_can_check(tmp_path, monkeypatch):
    from nodegraph import modelhub

    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(tmp_path))
    entries = modelhub.load_manifest().entries
    names = ("hyperswap_1a_256", "hyperswap_1b_256", "hyperswap_1c_256", "simswap_256", "simswap_unofficial_512",
             "crossface_simswap", "arcface_w600k_r50")
    for name in names:
        entry = entries[name]
        assert not entry.builtin and entry.file == f"{name}.onnx"
        assert entry.url.startswith("https://github.com/facefusion/facefusion-assets/releases/download/models-3.")
        assert entry.url.endswith(f"/{entry.file}") and entry.record["hash_evidence"]
        assert entry.sha256 is None or len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0
    assert entries["simswap_256"].sha256 is None  # none was found: fetching it must be asked for explicitly
    with pytest.raises(modelhub.ModelError, match="no sha256 for it.*--allow-unverified"):
        modelhub.fetch("simswap_256")
    assert not list(tmp_path.iterdir())  # refused before anything was downloaded


def test_a_recogniser_that_gives_no_embedding_is_named_with_the_node_and_portrait(tmp_path, models):
    path, _, _ = arcface_model(tmp_path / "silent.onnx")
    silent = onnx.load(str(path))
    for weight in silent.graph.initializer:  # every number out of it is 0
        weight.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(weight)), weight.name))
    onnx.save(silent, str(path))
    for make in (lambda: hyper({**models, "recogniser": str(path)}),
                 lambda: InSwapper("swap", {"identity": str(PORTRAIT), "model": str(inswapper_model(
                     tmp_path / "inswapper.onnx")), "recogniser": str(path)}).setup()):
        with pytest.raises(InvalidInput, match=r"node 'swap'.*silent\.onnx gave an empty embedding.*ArcFace"):
            make()


def test_bench_swappers_says_which_figure_is_the_median_and_what_the_ratio_is_of():
    # it printed "2613.7 ms/frame (min 2505.9)  x1.00 of inswapper_128": the README took the mins for the
    # figures beside ratios of the medians (HyperSwap 831 ms "0.30x" InSwapper's 1590 ms)
    from nodes.swapper_bench import summary

    case = {"ms_median": 720.3, "ms_min": 632.4, "swap_px": 256, "ratio_to_inswapper_128": 0.28}
    text = summary({"note": "stand-ins", "cpu_cores": 2, "load_average_after": [1.0, 1.0, 1.0],
                    "frames_per_case": {"cpu": 3}, "providers": {"cpu": {"hyperswap_256": case}}})
    assert "median (min) of 3 frames a case; x: the median's ratio to inswapper_128's" in text
    assert "720.3 ms (632.4)  x0.28" in text


def test_a_refused_live_pixel_boost_does_not_take_and_a_later_model_edit_does(models):
    # the refused 384 stayed in the node's params while it ran at native size, so the model edit after it
    # was refused too, on the stale 384: "pixel_boost 384 is not a multiple of the model's 256 px"
    graph = Graph()
    graph.add_node("ImageSource", {"path": str(PORTRAIT), "repeat": 0}, node_id="src")
    graph.add_node("PortraitFaces", {}, node_id="faces")
    graph.add_node("HyperSwapper", {"identity": str(PORTRAIT), "model": models["hyperswap"],
                                    "recogniser": models["recogniser"]}, node_id="swap")
    for link in ("src.frame faces.frame", "src.frame swap.frame", "faces.faces swap.faces"):
        graph.add_link(Link.parse(*link.split()))
    runner = SequentialRunner(graph, registry_with_faces())
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: runner.snapshot().frames >= 2, 30.0)
        runner.set_param("swap", "pixel_boost", "384")
        runner.set_param("swap", "model", models["hyperswap"])
        edited_at = runner.snapshot().frames
        assert wait_until(lambda: runner.snapshot().frames >= edited_at + 2, 30.0)
    finally:
        runner.stop()
        thread.join(30)
    swap = runner.report.nodes["swap"]
    assert not runner.report.error and swap["errors"] == 1, swap
    assert "pixel_boost 384 is not a multiple of the model's 256 px" in swap["last_error"]
