"""The progress bar and the log share stderr: a line the log prints while the bar is drawn starts on a line
of its own ("... eta 0 snodegraph: node 'out' (VideoFileOutput): ... holds 15 frames" was one line), and
the bar goes on below it."""

import re

import pytest
from conftest import run_cli
from test_cli import node, write_preset


@pytest.mark.parametrize("engine", [[], ["--sequential"]], ids=["multiprocess", "sequential"])
def test_log_lines_printed_while_the_bar_is_drawn_start_on_their_own_line(tmp_path, engine):
    out = tmp_path / "out.mp4"
    # paced: the bar is drawn for half a second before the writer closes and says what it wrote; lossless, so
    # that a busy machine drops no frame
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=64, height=48, frames=15, realtime=True, fps=30.0),
                           node("out", "VideoFileOutput", path=str(out))], [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--progress", "--mode", "lossless", *engine, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = result.stderr.split("\n")  # a terminal shows what follows the last \r of each line
    said = [line for line in shown if "holds 15 frames and plays" in line]
    assert len(said) == 1 and said[0].startswith("nodegraph: node 'out'"), result.stderr
    bars = [line.rsplit("\r", 1)[-1] for line in shown if "frames" in line and "fps" in line]
    assert any(re.fullmatch(r"\[#+\] 15/15 frames .* eta +0 s", bar) for bar in bars), result.stderr
    assert shown[-2].startswith("done: 15 frames"), result.stderr
