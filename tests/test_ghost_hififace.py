"""GhostSwapper and HiFiFaceSwapper on a real portrait, with small ONNX stand-ins that have exactly the tensor
names and shapes FaceFusion feeds ghost_1/2/3_256, hififace_unofficial_256 and their crossface converters
(nodes/standin_swappers.py: inputs source [1, 512] and target [1, 3, 256, 256], output [1, 3, 256, 256] and,
HiFiFace's, mask [1, 1, 256, 256]; converter input [1, 512] -> output [1, 512]). The real weights cannot be had
here; none was run."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import repo_env
from swap_models import (
    PORTRAIT,
    arcface_model,
    converter_model,
    face_region,
    inswapper_model,
    portrait_faces,
    simswap_model,
)
from test_swap_adapters import assert_reproduces, run_swap_graph

from nodegraph.errors import InvalidInput
from nodes.face.align import five_points_from_landmarks, umeyama
from nodes.face.warp_templates import template_points
from nodes.ghost import GhostSwapper
from nodes.hififace import HiFiFaceSwapper
from nodes.hyperswap import HyperSwapper
from nodes.standin_swappers import converted_swapper_model
from nodes.swap import InSwapper
from nodes.swap_common import crop_geometry

# node, FaceFusion's warp template for it, whether its source is the converted embedding L2-normalised
FAMILIES = [(GhostSwapper, "arcface_112_v1", False), (HiFiFaceSwapper, "mtcnn_512", True)]


@pytest.fixture
def models(tmp_path):
    recogniser, _, _ = arcface_model(tmp_path / "arcface.onnx")
    converter, weights = converter_model(tmp_path / "crossface.onnx")
    return {"recogniser": str(recogniser), "converter": str(converter), "converter_weights": weights,
            "swapper": str(converted_swapper_model(tmp_path / "swapper.onnx", mask_output=True)),
            "swapper_one_output": str(converted_swapper_model(tmp_path / "swapper_one.onnx")),
            "swapper_renamed": str(converted_swapper_model(tmp_path / "swapper_renamed.onnx", mask_output=True,
                                                           names=("swapped", "alpha"), mask_first=True))}


def params(models, **changes):
    return {"identity": str(PORTRAIT), "model": models["swapper"], "recogniser": models["recogniser"],
            "converter": models["converter"], **changes}


def set_up(node_type, models, **changes):
    node = node_type("swap", params(models, **changes))
    node.setup()
    return node


@pytest.mark.parametrize(("node_type", "template", "normalised"), FAMILIES)
def test_crop_on_the_familys_template_in_minus_one_to_one_with_the_converted_identity(models, node_type, template,
                                                                                        normalised):
    # GHOST's outputs after the first are not read; HiFiFace's mask is its own (it has to have one)
    for model in ("swapper", "swapper_one_output") if node_type is GhostSwapper else ("swapper",):
        node = set_up(node_type, models, model=models[model])
        frame, faces = portrait_faces()
        face = node.process(frame=frame, faces=faces)["faces"][0]
        assert face["swap"].shape == (256, 256, 3) and face["swap_mask"].shape == (256, 256)
        five = five_points_from_landmarks(faces[0]["landmarks"])
        np.testing.assert_allclose(face["swap_matrix"], umeyama(five, template_points(template, 256))[:2],
                                   rtol=1e-5, atol=1e-3)
        crop = crop_geometry(frame, face["swap_matrix"], 256)
        # the stand-in gives back its input: only (x - .5) / .5 in and x * .5 + .5 out reproduce the crop
        assert np.abs(face["swap"].astype(int) - crop).max() <= 1, model
    embedding = node.recogniser_model.portrait_embedding(str(PORTRAIT), "test")
    converted = embedding @ models["converter_weights"]
    expected = converted / np.linalg.norm(converted) if normalised else converted  # GHOST: the raw output
    assert node.source.shape == (1, 512) and node.source.dtype == np.float32
    np.testing.assert_allclose(node.source[0], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize(("node_type", "template", "normalised"), FAMILIES)
def test_the_swap_is_pasted_back_where_the_face_is(tmp_path, models, node_type, template, normalised):
    merger = {"mask": "swap", "erode": 0, "blur": 0}
    merged, runner = run_swap_graph(tmp_path / "same", node_type.__name__, params(models, mask="hull"), merger)
    frame, faces = portrait_faces()
    assert_reproduces(merged, frame, faces[0])
    assert runner.preview("swap").shape == (128, 384, 3)
    # a stand-in whose red rises by 0.4 (of -1..1) for exactly the identity the node must feed it
    source = set_up(node_type, models).source[0].astype(np.float64)
    colour = np.zeros((512, 3), np.float32)
    colour[:, 0] = 0.4 * source / (source @ source)
    tinted = str(converted_swapper_model(tmp_path / "tinted.onnx", colour=colour, mask_output=True))
    merged, _ = run_swap_graph(tmp_path / "tinted", node_type.__name__, params(models, model=tinted, mask="hull"),
                               merger)
    diff = merged.astype(np.int16) - frame.astype(np.int16)
    ys, xs = face_region(faces[0], frame.shape, margin=0.3)
    red_rise = diff[ys, xs, 2][frame[ys, xs, 2] < 190]  # where 0.2 more of 255 is not clipped
    assert abs(np.median(red_rise) - 51) <= 3, np.median(red_rise)
    assert np.abs(diff[ys, xs, :2]).mean() < 2.0  # blue and green as they were
    assert np.abs(diff[:20]).max() == 0 and np.abs(diff[-20:]).max() == 0  # nothing far from the face


@pytest.mark.parametrize("model", ["swapper", "swapper_renamed"])
def test_hififace_offers_the_models_mask_of_each_swapped_face_in_the_frame_and_as_the_swap_mask(models, model):
    # the stand-in's mask is its crop's grey level (0..1): put back into the frame it is the frame's own. The
    # face and mask are told apart by shape, so a file naming them swapped and alpha, mask first, is read alike
    frame, faces = portrait_faces()
    out = set_up(HiFiFaceSwapper, models, model=models[model], mask="model").process(frame=frame, faces=faces)
    mask, face = out["mask"], out["faces"][0]
    assert mask.shape == frame.shape[:2] and mask.dtype == np.float32
    ys, xs = face_region(faces[0], frame.shape)
    grey = frame.astype(np.float32).mean(axis=2) / 255
    assert np.abs(mask[ys, xs] - grey[ys, xs]).mean() < 0.01
    assert mask[:20].max() == 0 and mask[-20:].max() == 0  # no face there: nothing swapped
    crop = crop_geometry(frame, face["swap_matrix"], 256)
    assert np.abs(face["swap_mask"] - crop.astype(np.float32).mean(axis=2) / 255).max() < 0.01
    assert np.abs(face["swap"].astype(int) - crop).max() <= 1  # the stand-in's face is its input
    # a frame with no face gives an empty mask of its size
    empty = set_up(HiFiFaceSwapper, models, model=models[model]).process(frame=frame, faces=[])["mask"]
    assert empty.shape == frame.shape[:2] and empty.max() == 0


def test_hififaces_mask_wired_to_the_mergers_mask_input_limits_the_paste(tmp_path, models):
    # the face turned +0.4 red (51 levels), pasted under the hull times the model's mask (the frame's grey g)
    source = set_up(HiFiFaceSwapper, models).source[0].astype(np.float64)
    colour = np.zeros((512, 3), np.float32)
    colour[:, 0] = 0.4 * source / (source @ source)
    tinted = str(converted_swapper_model(tmp_path / "tinted.onnx", colour=colour, mask_output=True))
    merged, _ = run_swap_graph(tmp_path, "HiFiFaceSwapper", params(models, model=tinted, mask="hull"),
                               {"mask": "swap", "erode": 0, "blur": 0}, more_links=["swap.mask merge.mask"])
    frame, faces = portrait_faces()
    ys, xs = face_region(faces[0], frame.shape, margin=0.3)
    red_rise = (merged.astype(np.float32) - frame)[ys, xs, 2]
    grey = frame[ys, xs].astype(np.float32).mean(axis=2) / 255
    kept = frame[ys, xs, 2] < 190  # where 0.2 more of 255 is not clipped
    assert abs(np.median(red_rise[kept] / grey[kept]) - 51) <= 3, np.median(red_rise[kept] / grey[kept])
    assert np.median(red_rise[kept]) < 45  # limited: the whole rise was 51


def test_wrong_files_and_boosts_are_refused_at_check_and_setup_naming_node_param_expected_and_found(tmp_path,
                                                                                                     models):
    inswapper = str(inswapper_model(tmp_path / "inswapper.onnx"))
    simswap_512 = str(simswap_model(tmp_path / "simswap_512.onnx", 512))
    cases = [
        (GhostSwapper, {"model": inswapper}, "model", "not a GHOST model",
         "Found inputs: target [1, 3, 128, 128], source [1, 512]; outputs: output [1, 3, 128, 128]"),
        (HiFiFaceSwapper, {"model": simswap_512}, "model", "not a HiFiFace model",
         "target [1, 3, 512, 512]; outputs: output [1, 3, 512, 512]"),
        (GhostSwapper, {"converter": models["recogniser"]}, "converter", "not an embedding converter",
         "Found inputs: input.1 [N, 3, 112, 112]"),
        (HiFiFaceSwapper, {"converter": models["swapper"]}, "converter", "not an embedding converter",
         "Found inputs: source [1, 512], target [1, 3, 256, 256]"),
        (HiFiFaceSwapper, {"recogniser": models["converter"]}, "recogniser", "not an ArcFace recogniser",
         "Found inputs: input [1, 512]"),
        (GhostSwapper, {"pixel_boost": "384"}, "pixel_boost",
         "pixel_boost 384 is not a multiple of the model's 256 px", "native, 256, 512, 768, 1024"),
    ]
    for node_type, changes, param, expected, found in cases:
        full = node_type("swap", params(models, **changes)).values
        problems = [p for p in node_type.check(full, tmp_path) if p.param == param]
        assert len(problems) == 1 and expected in problems[0].message and found in problems[0].message, problems
        with pytest.raises(InvalidInput) as error:
            node_type("swap", params(models, **changes)).setup()
        said = str(error.value)
        assert f"node 'swap' ({node_type.__name__})" in said and f"param '{param}'" in said, said
        assert expected in said and found in said, said


def test_a_ghost_or_hififace_file_elsewhere_is_said_to_be_one_and_where_it_goes(tmp_path, models):
    # GHOST's tensors are SimSwap 256's, HiFiFace's HyperSwap's: what a file is cannot be told from them,
    # only where it may go
    for model, family in (("swapper_one_output", "a SimSwap or GHOST model (at 256 px the two have the same "
                                                 "tensors): use it in the SimSwapper or GhostSwapper its name says"),
                          ("swapper", "a HyperSwap or HiFiFace model (the two have the same tensors): use it in "
                                      "the HyperSwapper or HiFiFaceSwapper its name says")):
        problems = InSwapper.check(InSwapper("swap", {"identity": str(PORTRAIT), "model": models[model],
                                                      "recogniser": models["recogniser"]}).values, tmp_path)
        assert problems[0].message.endswith(f". Its tensors are those of {family}"), problems
    inswapper = str(inswapper_model(tmp_path / "inswapper.onnx"))
    problems = GhostSwapper.check(GhostSwapper("swap", params(models, model=inswapper)).values, tmp_path)
    assert problems[0].message.endswith(". Its tensors are those of an inswapper model: use it in an InSwapper")


def test_a_hififace_file_without_its_mask_is_refused_naming_file_family_expected_and_found(tmp_path, models):
    # every HifiFace generator gives a mask beside its face: a file without one is some other family's
    one_output = models["swapper_one_output"]
    problems = HiFiFaceSwapper.check(HiFiFaceSwapper("swap", params(models, model=one_output)).values, tmp_path)
    said = [p.message for p in problems if p.param == "model"]
    assert len(said) == 1 and said[0].startswith(one_output) and "not a HiFiFace model" in said[0], said
    assert ("exactly one [1, 3, 256, 256] (the face, RGB -1..1) and exactly one [1, 1, 256, 256] (its mask, "
            "0..1)") in said[0], said
    assert "outputs: output [1, 3, 256, 256]." in said[0] and "use it in the SimSwapper or GhostSwapper" in said[0]
    with pytest.raises(InvalidInput, match="not a HiFiFace model") as error:
        HiFiFaceSwapper("swap", params(models, model=one_output)).setup()
    assert "node 'swap' (HiFiFaceSwapper), param 'model'" in str(error.value), error.value
    assert "outputs: output [1, 3, 256, 256]" in str(error.value), error.value
    # a HiFiFace file named otherwise is no HyperSwap file (its exporter names output and mask) and is said so
    problems = HyperSwapper.check(HyperSwapper("swap", {"identity": str(PORTRAIT), "model": models["swapper_renamed"],
                                                        "recogniser": models["recogniser"]}).values, tmp_path)
    assert problems[0].message.endswith(". Its tensors are those of a HiFiFace model: use it in a HiFiFaceSwapper")


def test_catalogue_lists_the_families_and_fetches_them_only_when_told_no_hash_checks_them(tmp_path, monkeypatch):
    from nodegraph import modelhub

    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(tmp_path))
    entries = modelhub.load_manifest().entries
    releases = {"ghost_1_256": "3.0.0", "ghost_2_256": "3.0.0", "ghost_3_256": "3.0.0", "crossface_ghost": "3.4.0",
                "hififace_unofficial_256": "3.1.0", "crossface_hififace": "3.4.0"}
    for name, release in releases.items():
        entry = entries[name]
        assert not entry.builtin and entry.file == f"{name}.onnx" and entry.sha256 is None
        assert entry.url == (f"https://github.com/facefusion/facefusion-assets/releases/download/models-{release}/"
                             f"{name}.onnx")
        assert "CRC32, not a sha256" in entry.record["hash_evidence"]
    assert entries["ghost_2_256"].record["needs"] == ["arcface_w600k_r50", "crossface_ghost"]
    assert entries["hififace_unofficial_256"].record["needs"] == ["arcface_w600k_r50", "crossface_hififace"]
    with pytest.raises(modelhub.ModelError, match="no sha256 for it.*--allow-unverified"):
        modelhub.fetch("ghost_1_256")
    assert not list(tmp_path.iterdir())  # refused before anything was downloaded
    listed = subprocess.run([sys.executable, "-m", "nodegraph.cli", "models", "list"], capture_output=True,
                            text=True, timeout=60, env=repo_env({"NODEGRAPH_USER_MODELS": str(tmp_path)}))
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1:3] for line in listed.stdout.splitlines() if line.strip()}
    for name in releases:
        assert rows[name] == ["user", "missing"], listed.stdout
