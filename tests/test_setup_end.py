"""The stage's SIGUSR1 ending, in real spawned processes: `held` work inside an `endable` set-up (TensorRT
writing its engine cache as a session is made) is not cut off by it, and the set-up is endable again after.
No TensorRT here: the context itself is tested; onnx.create_session holds it where TensorRT may build engines."""

import multiprocessing
import sys
import time

import pytest

from nodegraph.runtime.setup_end import end_if_endable, endable, held, ignore_ending, was_ended

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no SIGUSR1")


def hold_then_wait(in_held, sent, left) -> None:
    ignore_ending()  # as a stage starts
    with endable(True):
        with held(True):
            in_held.set()
            sent.wait(20)
        left.set()
        time.sleep(20)


def test_the_end_signal_waits_out_held_work_and_ends_the_set_up_after_it():
    context = multiprocessing.get_context("spawn")
    in_held, sent, left = context.Event(), context.Event(), context.Event()
    process = context.Process(target=hold_then_wait, args=(in_held, sent, left), daemon=True)
    process.start()
    try:
        assert in_held.wait(30)
        end_if_endable(process.pid)
        sent.set()
        assert left.wait(20), f"ended inside held(): exit code {process.exitcode}"
        end_if_endable(process.pid)
        process.join(10)
        assert was_ended(process.exitcode), process.exitcode
    finally:
        if process.is_alive():
            process.kill()
            process.join(10)
