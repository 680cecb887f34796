"""`nodegraph models list|verify|fetch NAME... [--preset FILE]`: see, check and download models."""

from __future__ import annotations

import argparse
import contextlib
import sys
from functools import partial
from pathlib import Path

from nodegraph import modelhub, preset
from nodegraph.console import tell
from nodegraph.errors import EXIT_INVALID, EXIT_OK
from nodegraph.model_manifest import ModelEntry
from nodegraph.paths import user_models_dir
from nodegraph.preset import PresetError
from nodegraph.preset_models import missing_models
from nodegraph.registry import default_registry


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models", help="list, verify and fetch models",
        description="List, verify and fetch the models nodegraph knows (models/manifest.json).")
    commands = parser.add_subparsers(dest="models_command", metavar="{list,verify,fetch}", required=True)
    commands.add_parser("list", help="every known model: kind, file found or missing, size, verified")
    verify = commands.add_parser("verify", help="check size and sha256 of the models present "
                                 "(exit 2 if any fails)")
    verify.add_argument("name", nargs="?", help="one model (default: all)")
    fetch = commands.add_parser("fetch", help="download user models over HTTPS and verify them")
    fetch.add_argument("name", nargs="*", help="model names, as `nodegraph models list` shows them")
    fetch.add_argument("--preset", metavar="FILE",
                       help="also every model this preset's nodes name that is not installed yet")
    fetch.add_argument("--allow-unverified", action="store_true",
                       help="fetch a model whose manifest entry has no sha256 (it cannot be checked)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        if args.models_command == "list":
            return _list()
        if args.models_command == "verify":
            return _verify(args.name)
        return _fetch_all(args.name, args.preset, args.allow_unverified)
    except (modelhub.ModelError, PresetError) as exc:
        tell(f"nodegraph: {exc}")
        return EXIT_INVALID


def _list() -> int:
    manifest = modelhub.load_manifest()
    rows = [("NAME", "KIND", "FILE", "SIZE", "VERIFIED")]
    for result in modelhub.verify():
        entry = manifest.entries[result.name]
        if result.path is None:
            where, size = "missing", f"({size_text(entry.size)})" if entry.size else "-"
            if (part := _partial_download(entry)) is not None:
                where = f"missing, {size_text(part.stat().st_size)} downloaded (fetch resumes)"
        else:
            where, size = str(result.path), size_text(result.path.stat().st_size)
        verified = {"ok": "yes", "no hash": "no hash known", "missing": "-", "bad": "FAILED"}[result.status]
        rows.append((result.name, result.kind, where, size, verified))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4])
    for entry in manifest.entries.values():  # two names of one network: say why both, lest one look a duplicate
        if "same_network_as" in entry.record:
            print(f"\n{entry.name} holds the same network as {entry.record['same_network_as']}, in another file: "
                  f"{entry.record['differs']}.")
    print(f"\nuser model folder: {user_models_dir()}")
    print(f"fetch downloads into: {modelhub.fetch_dir()}")
    if manifest.notes:
        print(manifest.notes)
    return EXIT_OK


def _verify(name: str | None) -> int:
    results = modelhub.verify(name)
    entries = modelhub.load_manifest().entries
    not_installed = []  # user models never fetched: one line for them all, not a paragraph each
    for result in results:
        part = _partial_download(entries[result.name]) if result.status == "missing" else None
        if result.status in ("ok", "no hash"):
            tell(f"ok       {result.name}: {result.path} ({result.message})", sys.stdout)
        elif result.status == "missing" and name is None and not result.failed and part is None:
            not_installed.append(result.name)
        elif result.status == "missing":
            message = result.message
            if part is not None:
                message += (f"; {size_text(part.stat().st_size)} of it is downloaded in {part}, and "
                            f"`nodegraph models fetch {result.name}` resumes from there")
            tell(f"{'MISSING' if result.failed else 'missing'}  {result.name}: {message}", sys.stdout)
        else:
            tell(f"FAILED   {result.name}: {result.message}", sys.stdout)
    if not_installed:
        tell(f"not installed, so not checked: {len(not_installed)} user model{'s' * (len(not_installed) != 1)} "
             f"({', '.join(not_installed)}); `nodegraph models list` gives their sizes, `nodegraph models fetch "
             f"NAME` fetches one into {modelhub.fetch_dir()}", sys.stdout)
    return EXIT_INVALID if any(r.failed for r in results) else EXIT_OK


def _partial_download(entry: ModelEntry) -> Path | None:
    """The .part an interrupted `models fetch` left for the entry, when it holds any bytes."""
    if entry.builtin:
        return None
    part = modelhub.partial_download_path(entry)
    with contextlib.suppress(OSError):
        if part.is_file() and part.stat().st_size > 0:
            return part
    return None


def _fetch_all(names: list[str], preset_file: str | None, allow_unverified: bool) -> int:
    """Each model in turn: one that cannot be fetched is said, and the others are still fetched."""
    if not names and preset_file is None:
        raise modelhub.ModelError("models fetch: give the names of the models to fetch, or --preset FILE for "
                                  "those a preset needs (`nodegraph models list` shows the names)")
    names = list(dict.fromkeys(names))
    if preset_file is not None:
        needed = missing_models(preset.load(preset_file), default_registry())
        if not needed:
            print(f"{preset_file}: every model its nodes name is installed")
        names += [name for name in needed if name not in names]
    failed = 0
    for name in names:
        try:
            _fetch(name, allow_unverified)
        except modelhub.ModelError as exc:
            tell(f"nodegraph: {exc}")
            failed += 1
    if failed and len(names) > 1:
        tell(f"nodegraph: {not_fetched(failed, len(names))}")
    return EXIT_INVALID if failed else EXIT_OK


def not_fetched(failed: int, count: int) -> str:
    """The line after a fetch of `count` models of which `failed` could not be fetched (each said above)."""
    rest = "none was fetched" if failed == count else "the others are in place"
    return f"{failed} of {count} models could not be fetched (above); {rest}"


def _fetch(name: str, allow_unverified: bool) -> None:
    shown = sys.stderr.isatty()
    try:
        path = modelhub.fetch(name, allow_unverified=allow_unverified,
                              progress=partial(_progress, name) if shown else None)
    finally:
        if shown:
            print(file=sys.stderr)
    checked = "verified" if modelhub.load_manifest().entries[name].sha256 else "NOT verified: no known sha256"
    print(f"{name}: {path} ({checked})")


def _progress(name: str, done: int, total: int | None) -> None:
    of = f" of {size_text(total)}" if total else ""
    print(f"\rdownloading {name}: {size_text(done)}{of}", end="", file=sys.stderr, flush=True)


def size_text(n: float) -> str:
    if n < 1000:
        return f"{n} bytes"
    for unit in ("kB", "MB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} GB"
