"""`nodegraph bench masks` runs, and its stand-ins have exactly the tensors the nodes' contracts take."""

from nodegraph.model_tensors import model_tensors
from nodes import mask_bench
from nodes.model_fit import enhancer_fit, occluder_fit, parser_fit
from nodes.standin_restorers import enhancer_standin, occluder_standin, parser_standin


def test_the_standins_fit_the_contracts(tmp_path):
    path, macs = occluder_standin(tmp_path / "o.onnx")
    assert occluder_fit(path, model_tensors(path)) == 256 and macs > 1e9
    path, macs = parser_standin(tmp_path / "p.onnx")
    assert parser_fit(path, model_tensors(path)) == 512 and 8e9 < macs < 11e9  # ResNet-18 at 512 px: ~9.5 G
    path, _ = enhancer_standin(tmp_path / "e.onnx", 256)
    assert enhancer_fit(path, model_tensors(path)) == (256, False)


def test_bench_masks_measures_every_node_and_says_which_are_standins():
    result = mask_bench.run(frames=1)
    for name in ("mask_landmarks", "mask_occluder", "mask_parser", "enhancer_512", "enhancer_256", "merger",
                 "merger_with_mask"):
        assert result[name]["ms_median"] > 0, name
    assert result["mask_landmarks"]["standin_gmacs"] is None and result["enhancer_512"]["standin_gmacs"] > 10
    text = mask_bench.summary(result)
    assert "stand-in" in text and "merger_with_mask" in text
