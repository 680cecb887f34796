"""`nodegraph bench detect` measures each hard case's recall, by default and with its mode, and the cost."""

from nodes import detect_bench


def test_bench_detect_finds_every_hard_face_the_default_misses_some_of():
    result = detect_bench.run(frames=1)
    for case in ("turned", "sideways", "small_1080p", "wide_32_9"):
        row = result[case]
        assert row["recall_mode"] == 1.0 and row["recall_default"] < 1.0, case
        assert row["ms_mode"] > row["ms_default"] > 0 and row["cost_ratio"] > 1, case
    text = detect_bench.summary(result)
    assert "small_1080p  2 faces found 0% by default, 100% with tile_size 480" in text
