#!/usr/bin/env bash
# The GPU check: `nodegraph bench gpu` and the test suite on the GPU machine, results as files under $OUT.
#
#   here, once:   bash ../shared/gpu/stage.sh && bash scripts/gpu_check.sh prepare
#   the device:   the six copy calls of ../shared/gpu/README.md, then two runs back to back (the machine
#                 keeps /tmp while warm), each with carry [".gpu/on-device.sh", ".gpu/wheels"]:
#                 bash .gpu/on-device.sh bash scripts/gpu_check.sh run bench     timeout_s 480
#                 bash .gpu/on-device.sh bash scripts/gpu_check.sh run suite     timeout_s 360
#
# `prepare` puts into .gpu/wheels what that machine lacks: this project as a wheel (its entry points name
# the built-in nodes and benchmarks) and the cp312 wheels of PyAV and pyvirtualcam. `run bench` writes
# gpu.txt, bench_imagework.json, bench_gpu.json (+ .log) and summary.json under $OUT; `run suite` writes
# pytest.xml (+ .log). Each step has its own time limit, so a call comes back within its timeout.
# Ray (the farm) and dlib (bench quality's judge) are too large to carry, so their tests stay here.
set -u
cd "$(dirname "$0")/.."

prepare() {
  set -e
  [ -f .gpu/on-device.sh ] || { echo "run ../shared/gpu/stage.sh first"; exit 1; }
  rm -f .gpu/wheels/*.whl
  python3 -m pip wheel -q --no-deps -w .gpu/wheels .
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/wheels av pyvirtualcam
  du -ch .gpu/wheels/*.whl | tail -1
}

run_bench() {
  out=${OUT:?OUT is not set: run this through the device tool}
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
  nproc >> "$out/gpu.txt"
  timeout 40 python3 -m nodegraph.cli bench imagework --json > "$out/bench_imagework.json" \
    2> "$out/bench_imagework.log"
  echo "bench imagework: exit $?" | tee -a "$out/gpu.txt"
  timeout 400 python3 -m nodegraph.cli bench gpu --json > "$out/bench_gpu.json" 2> "$out/bench_gpu.log"
  echo "bench gpu: exit $?" | tee -a "$out/gpu.txt"
  python3 - "$out" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
try:
    bench = json.loads((out / "bench_gpu.json").read_text())
except (OSError, ValueError) as e:
    bench = {"error": str(e)}
rows = {case: {p: {k: r[k] for k in ("fps", "latency_p50_ms", "latency_p95_ms", "latency_max_ms",
                                     "startup_and_close_s")} for p, r in by.items()}
        for case, by in bench.get("cases", {}).items()}
try:
    image_work = json.loads((out / "bench_imagework.json").read_text())["cases"]
except (OSError, ValueError, KeyError) as e:
    image_work = {"error": str(e)}
(out / "summary.json").write_text(json.dumps({"gpu": (out / "gpu.txt").read_text(), "bench": rows,
                                              "image_work": image_work}, indent=1))
print(json.dumps({"bench": rows, "image_work": image_work}, indent=1))
EOF
}

run_suite() {
  out=${OUT:?OUT is not set: run this through the device tool}
  timeout 330 python3 -m pytest -q -m "not gui" -p no:cacheprovider --junitxml="$out/pytest.xml" \
    --ignore=tests/test_farm.py --ignore=tests/test_farm_cluster.py --ignore=tests/test_bench_quality.py \
    > "$out/pytest.log" 2>&1
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
