"""onnxruntime session factory: provider choice by measurement, warm-up before the first frame, thread limits.

Every session is warmed up when it is made: its inputs run a few times, so that no frame pays for
allocation, kernel choice or cuDNN's algorithm search. `provider="auto"` makes a session on each of
TensorRT, CUDA, DirectML and CoreML that this onnxruntime lists and that really loads (onnxruntime-gpu lists
CUDA even where the CUDA libraries are missing) and on the CPU, times a few warm inferences on each, keeps
the fastest and says so in one line per model (a tiny model may be faster on the CPU). Where no GPU
provider loads, one quiet line says the run is on the CPU; why each one did not load is said with -v.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nodegraph.errors import InvalidInput, UnusableProvider
from nodegraph.modelhub import ModelError, verify_file
from nodegraph.onnx_errors import load_error, short
from nodegraph.paths import user_data_dir
from nodegraph.runtime.setup_end import held
from nodegraph.threads import budget

if TYPE_CHECKING:  # imported where used: a stage whose nodes load no model never loads onnxruntime
    import onnxruntime as ort

log = logging.getLogger("nodegraph")

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}
_LABELS = {"cpu": "CPU", "cuda": "CUDA", "tensorrt": "TensorRT", "directml": "DirectML", "coreml": "CoreML"}
_AUTO_ORDER = ("tensorrt", "cuda", "directml", "coreml")
_QUIET, _ERRORS_ONLY = 4, 3  # onnxruntime log severities: fatal only, errors only
WARMUP_RUNS = 3  # inferences per input shape when a session is made: the first ones pay for set-up
TIMED_RUNS = 5  # warm inferences timed per provider when `auto` chooses (the median counts)
# cuDNN's convolution algorithm search: "heuristic" picks at once; "exhaustive" times every algorithm for
# each new input shape (fastest kernels, but a stall of up to seconds whenever a shape is new)
CUDNN_SEARCH_ENV = "NODEGRAPH_CUDNN_SEARCH"
CUDNN_SEARCH = {"heuristic": "HEURISTIC", "exhaustive": "EXHAUSTIVE", "default": "DEFAULT"}
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
           "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
           "tensor(int8)": np.int8, "tensor(bool)": np.bool_}

Feeds = Mapping[str, np.ndarray]

_lock = threading.Lock()
_announced = False
_preloaded = False
_problems: dict[str, str | None] = {}


def available_providers() -> list[str]:
    """The providers (our short names) that this onnxruntime build lists; listed is not loadable."""
    import onnxruntime as ort
    listed = ort.get_available_providers()
    return [key for key, name in PROVIDERS.items() if name in listed]


def gpu_providers() -> list[str]:
    """The GPU providers (our short names) whose libraries load here, best first."""
    with _lock:
        return [key for key in _AUTO_ORDER if _load_problem(key) is None]


@dataclass(frozen=True)
class _Model:
    """What a session loads: a model file's path, or the bytes of a graph built in memory."""

    source: str | bytes
    name: str  # in log lines
    what: str  # in error messages


def create_session(model_path: str | os.PathLike | bytes, *, provider: str = "auto", threads: int | None = None,
                   warmup: Sequence[Feeds] | None = None, label: str | None = None,
                   auto_skips: Collection[str] = ()) -> ort.InferenceSession:
    """A warmed-up InferenceSession for a model file that modelhub verifies first (ModelError if it fails),
    or for a serialised ModelProto built in code (`bytes`, named by `label`).

    `warmup`: the inputs the caller will feed, one dict per shape it uses (default: zeros at the model's
    input shapes, unknown dimensions 1). `label` names the model in the `auto` line (default: its file).
    `auto_skips`: providers `auto` does not try (TensorRT for a graph fed a new shape on most calls: it
    builds an engine per shape)."""
    if provider != "auto" and provider not in PROVIDERS:
        raise InvalidInput(f"unknown onnxruntime provider '{provider}': "
                           f"use one of auto, {', '.join(PROVIDERS)}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InvalidInput(f"threads must be a whole number >= 1, got {threads!r}")
    if isinstance(model_path, bytes):
        name = label or "built-in graph"
        path = _Model(model_path, name, f"the built-in graph {name}")
    else:
        verified = verify_file(model_path)
        path = _Model(str(verified), verified.name, f"model file {verified}")
    with _lock:
        builds_engines = _builds_engines(provider, auto_skips)
    with held(builds_engines):  # TensorRT writes its engines as the session is made and warmed up
        with _lock:
            if provider == "auto":
                return _auto_session(path, threads, warmup, label or path.name, auto_skips)
            session = _forced_session(path, threads, provider)
        _refuse_unrunnable(session, warmup, path, _warm_up(session, warmup, path))
    return session


def _builds_engines(provider: str, auto_skips: Collection[str]) -> bool:
    """Whether making this session may write TensorRT engine files into the cache (a kill leaves one cut off)."""
    tried = provider == "tensorrt" or (provider == "auto" and "tensorrt" not in auto_skips)
    return tried and _load_problem("tensorrt") is None


def _auto_session(path: _Model, threads: int | None, warmup: Sequence[Feeds] | None,
                  label: str, skips: Collection[str] = ()) -> ort.InferenceSession:
    """The fastest of the providers that load, timed on warm inferences; the CPU alone when none other loads."""
    sessions, reasons = {}, []
    for key in (key for key in _AUTO_ORDER if key not in skips):
        problem = _load_problem(key)
        if problem is None:
            session, problem = _try(path, threads, key)
            if session is not None:
                sessions[key] = session
                continue
        if problem != _NOT_BUILT:
            reasons.append(f"{_LABELS[key]} not available ({problem})")
    cpu = _cpu_session(path, threads)
    if not sessions:
        _refuse_unrunnable(cpu, warmup, path, _warm_up(cpu, warmup, path))
        _announce_cpu(reasons)
        return cpu
    sessions["cpu"] = cpu
    times, failure = {}, None
    for key, session in sessions.items():
        failure = _warm_up(session, warmup, path)
        if failure is None:
            times[key] = _time(session, warmup)
    if not times:
        _refuse_unrunnable(cpu, warmup, path, failure)
    chosen = min(times, key=times.get) if times else "cpu"
    timings = ", ".join(f"{_LABELS[key]} {ms:.1f} ms" for key, ms in times.items())
    log.info("onnxruntime: %s: %s -> %s", label, timings or "no provider ran it", _LABELS[chosen])
    return sessions[chosen]


def _warm_up(session: ort.InferenceSession, warmup: Sequence[Feeds] | None, path: _Model) -> str | None:
    """Run each of the inputs a few times; why not (said with -v) when the model refused them, else None."""
    try:
        for feeds in warmup if warmup is not None else [_zero_feeds(session)]:
            for _ in range(WARMUP_RUNS):
                session.run(None, dict(feeds))
    except Exception as exc:  # the first frame reports a real input problem in the node's own words
        log.debug("onnxruntime: warm-up of %s on %s failed: %s", path.name, session.get_providers()[0], short(exc))
        return short(exc)
    return None


def _refuse_unrunnable(session: ort.InferenceSession, warmup: Sequence[Feeds] | None, path: _Model,
                       failure: str | None) -> None:
    """A model the CPU cannot run at the fixed shapes it declares, on zeros nor on noise (a graph with a score
    threshold may refuse a blank picture only), fails on every frame: a broken file, said at set-up. Shapes the
    caller chose, sizes left open (fed 1 here) or a GPU's own failure may be an input or provider problem."""
    inputs = session.get_inputs()
    if failure is None or warmup is not None or session.get_providers()[0] != "CPUExecutionProvider" or \
            not all(isinstance(d, int) and d > 0 for i in inputs for d in i.shape):
        return
    noise = {name: np.random.default_rng(0).random(zeros.shape).astype(zeros.dtype) if zeros.dtype.kind == "f"
             else zeros for name, zeros in _zero_feeds(session).items()}
    if _warm_up(session, [noise], path) is not None:
        shapes = ", ".join(f"{i.name} {list(i.shape)}" for i in inputs)
        raise ModelError(f"onnxruntime cannot run {path.what} on inputs of the shapes it declares ({shapes}): "
                         f"{failure}. The file is damaged or was not exported right; replace it with a good copy")


def _time(session: ort.InferenceSession, warmup: Sequence[Feeds] | None) -> float:
    """Milliseconds one pass over the warm-up inputs takes (the median of TIMED_RUNS)."""
    feeds_list = [dict(f) for f in (warmup if warmup is not None else [_zero_feeds(session)])]
    runs = []
    for _ in range(TIMED_RUNS):
        start = time.perf_counter()
        for feeds in feeds_list:
            session.run(None, feeds)
        runs.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(runs)


def _zero_feeds(session: ort.InferenceSession) -> dict[str, np.ndarray]:
    """Zeros at the model's input shapes (unknown dimensions 1)."""
    return {i.name: np.zeros([d if isinstance(d, int) and d > 0 else 1 for d in i.shape],
                             _DTYPES.get(i.type, np.float32))
            for i in session.get_inputs()}


def _forced_session(path: _Model, threads: int | None, key: str) -> ort.InferenceSession:
    if key == "cpu":
        session = _cpu_session(path, threads)
    else:
        problem = _load_problem(key)
        session = None
        if problem is None:
            session, problem = _try(path, threads, key)
        if session is None:
            raise UnusableProvider(
                f"onnxruntime provider '{key}' ({_LABELS[key]}) cannot be used: {problem}. This onnxruntime "
                f"lists: {', '.join(available_providers())}; use provider 'auto' to take the best that loads")
    _announce(f"running on {_LABELS[key]} (requested)")
    return session


_NOT_BUILT = "not in this onnxruntime build"


def _load_problem(key: str) -> str | None:
    """Why a provider cannot load, found without creating a session where possible; None if it may."""
    import onnxruntime as ort
    if key not in _problems:
        if PROVIDERS[key] not in ort.get_available_providers():
            _problems[key] = _NOT_BUILT
        elif key in ("cuda", "tensorrt"):
            _problems[key] = _library_problem(key)
        else:
            _problems[key] = None
    return _problems[key]


def _library_problem(key: str) -> str | None:
    import onnxruntime as ort
    # Loading the provider library ourselves yields the loader's plain reason (a missing libcudart,
    # libcublas or libnvinfer) without onnxruntime's multi-line error dump.
    global _preloaded
    if hasattr(ort, "preload_dlls") and not _preloaded:
        _preloaded = True
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
            ort.preload_dlls()  # CUDA libraries installed from pip (onnxruntime-gpu[cuda,cudnn])
    names = {"linux": f"libonnxruntime_providers_{key}.so", "win32": f"onnxruntime_providers_{key}.dll"}
    if sys.platform not in names:
        return None
    library = Path(ort.__file__).parent / "capi" / names[sys.platform]
    if not library.exists():
        return f"{library.name} missing from the onnxruntime install"
    try:
        ctypes.CDLL(str(library))
    except OSError as exc:
        missing = re.search(r"([\w.+-]+\.so[.\d]*): cannot open shared object file", str(exc))
        return f"{missing.group(1)} not found" if missing else short(exc)
    return None


def _try(path: _Model, threads: int | None, key: str) -> tuple[ort.InferenceSession | None, str | None]:
    """A session on provider `key` (CPU taking the nodes it cannot run), or None and the reason."""
    import onnxruntime as ort
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidGraph, InvalidProtobuf, NoSuchFile

    if key == "cpu":
        return _cpu_session(path, threads), None
    providers: list = [(PROVIDERS[key], _provider_options(key)), "CPUExecutionProvider"]
    if key == "tensorrt" and _load_problem("cuda") is None:
        providers.insert(1, PROVIDERS["cuda"])
    options = _options(threads, key)
    options.log_severity_level = _QUIET
    ort.set_default_logger_severity(_QUIET)
    try:
        session = ort.InferenceSession(path.source, options, providers=providers, enable_fallback=0)
    except (InvalidProtobuf, InvalidGraph, NoSuchFile) as exc:
        raise load_error(path.what, exc) from exc
    except Exception as exc:  # onnxruntime raises RuntimeError or its own Fail/EPFail types
        return None, short(exc)
    finally:
        ort.set_default_logger_severity(_ERRORS_ONLY)
    if session.get_providers()[0] != PROVIDERS[key]:
        return None, "failed to initialise"
    return session, None


def _cpu_session(path: _Model, threads: int | None) -> ort.InferenceSession:
    import onnxruntime as ort
    ort.set_default_logger_severity(_ERRORS_ONLY)
    try:
        return ort.InferenceSession(path.source, _options(threads, "cpu"), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise load_error(path.what, exc) from exc


def _options(threads: int | None, key: str) -> ort.SessionOptions:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or budget()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # every error onnxruntime would log here it raises too, and the node says it once; logged, a model that
    # fails on each frame printed onnxruntime's C++ error for every frame
    options.log_severity_level = _QUIET
    # Stages share the cores: a spinning thread pool burns CPU between frames that other stages need
    # (measured: the built-in full-range detector on 2 cores, 5 ms idle between runs, 15.5 ms CPU
    # per run spinning, 8 not).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if key == "directml":
        options.enable_mem_pattern = False  # DirectML's documented requirement
    return options


def _provider_options(key: str) -> dict:
    if key == "cuda":
        return {"cudnn_conv_algo_search": cudnn_search()}
    if key == "tensorrt":
        # Building an engine takes minutes; the cache makes that a first-run cost only.
        cache = user_data_dir() / "tensorrt-cache"
        cache.mkdir(parents=True, exist_ok=True)
        return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache)}
    return {}


def cudnn_search() -> str:
    """onnxruntime's name for the cuDNN search mode the user chose (NODEGRAPH_CUDNN_SEARCH; default heuristic)."""
    value = os.environ.get(CUDNN_SEARCH_ENV, "heuristic").strip().lower()
    if value not in CUDNN_SEARCH:
        raise InvalidInput(f"environment variable {CUDNN_SEARCH_ENV}={value!r} is not a cuDNN search mode; "
                           f"use one of {', '.join(CUDNN_SEARCH)}")
    return CUDNN_SEARCH[value]


def _announce_cpu(reasons: list[str]) -> None:
    """One quiet line when no GPU provider loads; why each did not, with -v."""
    if reasons and not _announced:
        log.debug("onnxruntime: %s", "; ".join(reasons))
    why = "no CUDA GPU found" if reasons else "this onnxruntime build has no GPU provider"
    _announce(f"running on the CPU ({why})")


def _announce(what: str) -> None:
    global _announced
    if not _announced:
        _announced = True
        log.info("onnxruntime: %s", what)
