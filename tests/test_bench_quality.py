"""`nodegraph bench quality`: the swap quality benchmark, in a reduced form (figures against the targets
are what the benchmark reports; here only that each is there, sane, and that each measure measures)."""

import json

import cv2
import numpy as np
import pytest
from portraits import portrait

from nodes.face.blend import refine_mask
from nodes.quality_bench import SHEET_TILE, TARGETS, nme_figures
from nodes.quality_measures import (
    REGIONS68,
    ChromaRange,
    IdentityJudge,
    LandmarkPass,
    colour_region,
    detail_ratio,
    foreign_colour,
    landmark_errors,
    landmark_nme,
    seam_ratio,
)

FRAMES = 6


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    from conftest import run_cli

    folder = tmp_path_factory.mktemp("bench")
    done = run_cli("bench", "quality", "--json", "--frames", FRAMES, cwd=folder, timeout=300)
    assert done.returncode == 0, done.stderr
    return folder, json.loads(done.stdout)


@pytest.mark.slow
def test_every_figure_for_every_pair_and_a_picture_sheet(result):
    folder, figures = result
    assert set(figures["pairs"]) == {"demo", "grey", "sidelight"}
    for pair in figures["pairs"].values():
        assert pair["frames"] == FRAMES and pair["measured"] == 2 and pair["colour_mode"] == "rct"
        assert 0 < pair["nme"] < 0.2 and 0 <= pair["identity_share"] <= 1
        assert 0 <= pair["foreign_colour"] < 0.05 and 0.3 < pair["seam"] < 3 and 0.2 < pair["detail"] < 5
        assert set(pair["foreign_colour_by_mode"]) == {"rct", "lct", "mkl", "idt", "sot"}
        masked = pair["masked"]
        for nme in (pair, masked):  # the regions split dlib's 68 points: weighted by size, they give the NME
            by_region = nme["nme_by_region"]
            assert set(by_region) == set(REGIONS68)
            weighted = sum(by_region[name] * len(points) for name, points in REGIONS68.items()) / 68
            assert weighted == pytest.approx(nme["nme"], abs=5e-4)
        assert 0 < masked["nme"] < 0.2 and 0 <= masked["identity_share"] <= 1
    assert set(TARGETS) <= set(next(iter(figures["pairs"].values())))
    sheet = cv2.imread(str(folder / "out" / "quality_sheet.png"))
    assert sheet.shape == (6 * SHEET_TILE, 3 * SHEET_TILE, 3)  # driver | output | identity, 2 rows per pair


@pytest.fixture(scope="module")
def hopper():
    image = portrait("grace_hopper.jpg")
    return image, LandmarkPass()(image)[1]


def test_a_picture_against_itself_is_perfect_and_an_edit_shows(hopper):
    image, points = hopper
    judge = IdentityJudge()
    box = judge.face_box(image, points.mean(axis=0))
    marks = judge.landmarks68(image, box)
    assert landmark_nme(marks, marks) == 0
    assert landmark_nme(marks + [0.0, 0.05 * np.linalg.norm(marks[36] - marks[45])], marks) == pytest.approx(0.05)
    raised = marks.copy()
    raised[list(REGIONS68["brows"])] -= [0.0, 0.1 * np.linalg.norm(marks[36] - marks[45])]
    errors = landmark_errors(raised, marks)
    assert errors[list(REGIONS68["brows"])] == pytest.approx(0.1) and errors[list(REGIONS68["jaw"])].max() == 0
    region = colour_region(points, image.shape)
    own = ChromaRange(image, region)
    assert foreign_colour(image, region, own, own) < 0.01  # 0.5% of its own colours lie beyond its range
    blue = image.copy()
    blue[region] = (200, 60, 60)
    assert foreign_colour(blue, region, own, own) == 1.0
    assert detail_ratio(image, points, image, points) == pytest.approx(1.0, abs=0.02)
    blurred = cv2.GaussianBlur(image, (0, 0), 1.5)
    assert detail_ratio(blurred, points, image, points) < 0.5


def test_the_seam_is_one_for_the_picture_itself_and_more_for_a_hard_paste(hopper):
    image, points = hopper
    hard = np.zeros(image.shape[:2], np.float32)
    cv2.circle(hard, tuple(int(v) for v in points.mean(axis=0)), 90, 1.0, -1)
    alpha = refine_mask(hard, 0, 8)
    assert seam_ratio(image, image, alpha) == pytest.approx(1.0)
    pasted = (image * (1 - alpha[..., None]) + 255 * alpha[..., None]).astype(np.uint8)
    assert seam_ratio(pasted, image, alpha) > 1.5


def test_a_pair_where_no_output_face_was_found_reports_nan_not_a_crash():
    figures = nme_figures([])
    assert np.isnan(figures["nme"]) and np.isnan(figures["nme_max"])
    assert set(figures["nme_by_region"]) == set(REGIONS68)
    assert all(np.isnan(value) for value in figures["nme_by_region"].values())
    one_frame = nme_figures([np.full(68, 0.02)])
    assert one_frame["nme"] == one_frame["nme_max"] == 0.02
