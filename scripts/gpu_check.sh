#!/usr/bin/env bash
# The GPU check: `nodegraph bench gpu` and the test suite on the GPU machine, results as files under $OUT.
#
#   here, once:   bash ../shared/gpu/stage.sh && bash scripts/gpu_check.sh prepare
#   the device:   the six copy calls of ../shared/gpu/README.md (timeout_s 60 each), then two runs back to
#                 back (the machine keeps /tmp while warm), each with carry [".gpu/on-device.sh", ".gpu/wheels"]:
#                 bash .gpu/on-device.sh bash scripts/gpu_check.sh run bench     timeout_s 330
#                 bash .gpu/on-device.sh bash scripts/gpu_check.sh run suite     timeout_s 270
#                 then give the machine back at once.
#
# The 15 minutes of device time: the machine's start and the six copies about 3 (each call carries the
# 11 MB tree and a 41 MB piece), the bench call 5.5 (the wheels' install about 40 s, bench imagework at most
# 40 s, bench gpu starting runs for 180 s and stopped at 240 s), the suite call 4.5 (pytest on 8 workers
# gets SIGINT at 240 s, so pytest.xml holds what ran); 13 in all, 2 to spare.
#
# `prepare` puts into .gpu/wheels what that machine lacks: this project as a wheel (its entry points name
# the built-in nodes and benchmarks), the cp312 wheels of PyAV, pyvirtualcam and Dear PyGui, and
# pytest-xdist with execnet (one test after another, the suite takes 11 minutes on 2 cores). `run bench`
# writes gpu.txt, bench_imagework.json, bench_gpu.json (+ .log) and summary.json under $OUT, summary.json
# also when a step failed; `run suite` writes pytest.xml (+ .log), the GPU's tests first. Each step has its
# own time limit, so a call comes back within its timeout. Ray (the farm) and dlib (bench quality's judge)
# are too large to carry, so their tests stay here.
set -u
cd "$(dirname "$0")/.."

# the suite's files that load models or run image work on the GPU: first, in case time runs out
GPU_TESTS="tests/test_onnx.py tests/test_image_work.py tests/test_gpu_bench.py tests/test_face_nodes.py
  tests/test_startup.py tests/test_face_detect.py tests/test_swap_demo.py tests/test_face_enhancer.py
  tests/test_face_mask.py tests/test_swap_adapters.py tests/test_meshwarp.py tests/test_face_align.py
  tests/test_embedding_swappers.py tests/test_neural_swap_preset.py tests/test_model_contracts.py"
NOT_CARRIED="tests/test_farm.py tests/test_farm_command.py tests/test_farm_cluster.py tests/test_bench_quality.py"

prepare() {
  set -e
  [ -f .gpu/on-device.sh ] || { echo "run ../shared/gpu/stage.sh first"; exit 1; }
  rm -f .gpu/wheels/*.whl
  python3 -m pip wheel -q --no-deps -w .gpu/wheels .
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/wheels av pyvirtualcam dearpygui pytest-xdist execnet
  tree=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
  wheels=$(du -cb .gpu/wheels/*.whl | tail -1 | cut -f1)
  echo "the check's calls carry $(( (tree + wheels) / 1048576 )) MiB (limit 64): tree $(( tree / 1048576 )), wheels $(( wheels / 1048576 ))"
  [ $(( tree + wheels )) -lt $(( 64 * 1048576 )) ] || { echo "over the 64 MiB a call may carry"; exit 1; }
}

run_bench() {
  out=${OUT:?OUT is not set: run this through the device tool}
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
  nproc >> "$out/gpu.txt"
  timeout 40 python3 -m nodegraph.cli bench imagework --json > "$out/bench_imagework.json" \
    2> "$out/bench_imagework.log"
  echo "bench imagework: exit $?" | tee -a "$out/gpu.txt"
  NODEGRAPH_BENCH_GPU_SECONDS=180 timeout -k 10 240 python3 -m nodegraph.cli bench gpu --json \
    > "$out/bench_gpu.json" 2> "$out/bench_gpu.log"
  echo "bench gpu: exit $?" | tee -a "$out/gpu.txt"
  python3 - "$out" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])


def read(name: str) -> dict:
    """A benchmark's JSON, or why there is none and the end of its log."""
    try:
        return json.loads((out / f"{name}.json").read_text())
    except (OSError, ValueError) as e:
        log = out / f"{name}.log"
        return {"error": f"{name}.json: {e}", "log_tail": log.read_text()[-3000:] if log.exists() else ""}


KEYS = ("fps", "latency_p50_ms", "latency_p95_ms", "latency_max_ms", "first_frame_ms", "startup_and_close_s", "drops")
bench, image_work = read("bench_gpu"), read("bench_imagework")
summary = {"gpu": (out / "gpu.txt").read_text(),
           "bench": {case: {p: {k: r.get(k) for k in KEYS} for p, r in by.items()}
                     for case, by in bench.get("cases", {}).items()},
           "bench_skipped": bench.get("skipped"), "bench_error": bench.get("error"),
           "bench_log_tail": bench.get("log_tail"),
           "image_work": image_work.get("cases", image_work)}
(out / "summary.json").write_text(json.dumps(summary, indent=1))
print(json.dumps({k: v for k, v in summary.items() if k != "bench_log_tail"}, indent=1))
EOF
}

run_suite() {
  out=${OUT:?OUT is not set: run this through the device tool}
  first=$(ls $GPU_TESTS 2>/dev/null)  # a file renamed since: pytest would run nothing for a missing one
  rest=$(ls tests/test_*.py | grep -v -x -F "$(printf '%s\n' $GPU_TESTS $NOT_CARRIED)")
  # SIGINT, not TERM: pytest stops as on Ctrl-C and still writes pytest.xml (with xdist too)
  # --continue-on-collection-errors: a module that cannot be imported there does not cancel the others
  # -n 8: half the machine's 16 cores, as each test starts processes of its own; the files go out in order
  timeout -s INT -k 20 240 python3 -m pytest -q -n 8 -m "not gui" -p no:cacheprovider \
    --junitxml="$out/pytest.xml" --continue-on-collection-errors $first $rest > "$out/pytest.log" 2>&1
  echo "pytest: exit $?"
  tail -3 "$out/pytest.log"
}

case "${1:-}" in
  prepare) prepare ;;
  run) case "${2:-}" in
         bench) run_bench ;;
         suite) run_suite ;;
         *) echo "usage: bash scripts/gpu_check.sh run bench|suite"; exit 2 ;;
       esac ;;
  *) echo "usage: bash scripts/gpu_check.sh prepare|run bench|run suite"; exit 2 ;;
esac
