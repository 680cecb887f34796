"""Resolve a model name or path to a verified file: manifest, sha256, model folders, HTTPS fetch.

Folders searched for a model, first match wins: env NODEGRAPH_MODELS (an override folder), the user
model folder (`nodegraph.paths.user_models_dir`), the built-in folder (`data_dir("models")`).
A file whose name is listed in the manifest must match the manifest's size and sha256 wherever it lies.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from nodegraph.model_download import claimed, download, refuse
from nodegraph.model_files import neither_file_nor_folder, page_start
from nodegraph.model_manifest import Manifest, ModelEntry, ModelError, load_manifest
from nodegraph.output_files import move_aside
from nodegraph.paths import data_dir, fetch_dir, fetch_dir_setting, setting_path, user_models_dir

log = logging.getLogger("nodegraph")

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class VerifyResult:
    name: str
    kind: str
    path: Path | None
    status: str  # "ok", "no hash" (present, nothing to check against), "missing" or "bad"
    message: str

    @property
    def failed(self) -> bool:
        return self.status == "bad" or (self.status == "missing" and self.kind == "built-in")


def builtin_dir() -> Path | None:
    try:
        return data_dir("models")
    except FileNotFoundError:
        return None


def search_dirs() -> list[Path]:
    override = setting_path("NODEGRAPH_MODELS")
    folders = [override] if override else []
    folders.append(user_models_dir())
    builtin = builtin_dir()
    if builtin is not None:
        folders.append(builtin)
    return folders


def find(entry: ModelEntry) -> Path | None:
    return next((folder / entry.file for folder in search_dirs() if _is_there(folder / entry.file)), None)


def _is_there(path: Path, folder: bool = False) -> bool:
    """Whether a file (or a folder) is at `path`. A folder that cannot be looked in (no permission, a name too
    long), where Path.is_file raises, is a ModelError naming it and the setting that chose it."""
    try:
        return path.is_dir() if folder else path.is_file()
    except OSError as exc:
        setting, chosen = _chosen_by(path.parent)
        fix = f"point {setting} at a folder you can read" if setting else "give a path you can read"
        raise ModelError(f"cannot look for {path.name} in {path.parent}{chosen}: {exc.strerror}; {fix}") from None


def _chosen_by(folder: Path) -> tuple[str | None, str]:
    """The setting that chose a model folder, if one did, and the words that say so."""
    setting = next((name for name in ("NODEGRAPH_MODELS", "NODEGRAPH_USER_MODELS") if setting_path(name) == folder),
                   None)
    return setting, f" (chosen by {setting}={os.environ[setting]})" if setting else ""


def _candidates(text: str, base_dir: str | os.PathLike | None) -> list[Path]:
    """Where a model path (not a manifest name) may be: relative paths against base_dir or cwd, and a bare
    file name in the model folders too, so a `.dfm` dropped into the user model folder is found by name."""
    path = Path(os.path.expanduser(text))  # a ~user without a home stays as written, and is not found
    if path.is_absolute():
        return [path]
    nearby = [Path(base_dir or Path.cwd()) / path]
    return nearby + [folder / path for folder in search_dirs()] if len(path.parts) == 1 else nearby


def locate(name_or_path: str | os.PathLike, *, base_dir: str | os.PathLike | None = None) -> Path | None:
    """The file `resolve` takes, unverified; None when there is none (for checks that must not read it)."""
    text = os.fspath(name_or_path)
    entry = load_manifest().entries.get(text)
    return find(entry) if entry else next((c for c in _candidates(text, base_dir) if _is_there(c)), None)


def unknown_model(name: str, manifest, tail: str = "") -> ModelError:
    if not manifest.entries:  # a manifest of no models said "known models are " and nothing
        return ModelError(f"unknown model '{name}': the manifest {manifest.path} lists no models; point "
                          f"NODEGRAPH_MANIFEST at one that does{tail}")
    close = difflib.get_close_matches(name, list(manifest.entries), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return ModelError(f"unknown model '{name}': {hint}known models are {', '.join(sorted(manifest.entries))} "
                      f"(see `nodegraph models list`){tail}")


def resolve(name_or_path: str | os.PathLike, *, base_dir: str | os.PathLike | None = None) -> Path:
    """A verified model file for a manifest name or a path (`locate`)."""
    manifest = load_manifest()
    text = os.fspath(name_or_path)
    entry, found = manifest.entries.get(text), locate(text, base_dir=base_dir)
    if entry is not None and found is None:
        raise _missing_error(entry)
    if found is None:  # a path (or a name) that leads to no file: say what is there instead
        if urlsplit(text).scheme in ("http", "https", "ftp") and "://" in text:  # pasted from a browser
            name = PurePosixPath(urlsplit(text).path).name
            raise ModelError(f"'{text}' is a web address: a model is given by file or manifest name. Download it "
                             f"into the user model folder {user_models_dir()} and give its file name"
                             f"{f', {name}' if name else ''}")
        looked = _candidates(text, base_dir)
        if odd := neither_file_nor_folder(looked):
            raise ModelError(odd)
        if len(Path(text).parts) == 1 and not Path(text).suffix:
            raise unknown_model(text, manifest, "; or give the path of a model file")
        if folder := next((c for c in looked if _is_there(c, folder=True)), None):
            raise ModelError(f"{folder} is a folder, not a model file; give the model file in it")
        raise ModelError(f"model file '{text}' not found (looked for {', '.join(map(str, looked))}); "
                         f"put it there or in the user model folder {user_models_dir()}")
    return verify_file(found, entry=entry, manifest=manifest)


def verify_file(path: str | os.PathLike, *, entry: ModelEntry | None = None,
                manifest: Manifest | None = None) -> Path:
    """Return `path` when it is a usable model file; raise ModelError saying what is wrong and the fix.

    A file named like a manifest entry must match its size and sha256; other files must exist and be neither
    empty nor a saved web page. The sha256 is computed once per process for a given path, mtime and size.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    if entry is None:
        entry = (manifest or load_manifest()).by_file(path.name)
    stat = path.stat()
    if stat.st_size == 0:
        raise ModelError(f"model file {path} is empty. Fix: {_fix(path, entry)}")
    page = page_start(path)
    if page is not None:
        raise ModelError(f"model file {path} is a web page or other text, not a model (it begins {page!r}): what a "
                         f"failed or refused download leaves. Fix: {_fix(path, entry)}")
    if entry is None or entry.sha256 is None:
        return path
    if entry.size is not None and stat.st_size != entry.size:
        raise ModelError(
            f"model file {path} is truncated or not the expected file: size is {stat.st_size} bytes, "
            f"expected {entry.size} bytes (manifest entry '{entry.name}'). Fix: {_fix(path, entry, differs=True)}")
    found = _sha256(path, stat)
    if found != entry.sha256:
        size = "as expected" if entry.size is not None else "(the manifest pins no size, only the sha256)"
        raise ModelError(
            f"model file {path} is corrupt: sha256 is {found}, expected {entry.sha256} (manifest entry "
            f"'{entry.name}', size {stat.st_size} bytes {size}). Fix: {_fix(path, entry, differs=True)}")
    return path


def verify(name: str | None = None) -> list[VerifyResult]:
    """Check one manifest model or all of them; messages are those that resolve() raises."""
    manifest = load_manifest()
    if name is not None and name not in manifest.entries:
        raise unknown_model(name, manifest)
    entries = [manifest.entries[name]] if name else list(manifest.entries.values())
    results = []
    for entry in entries:
        path = find(entry)
        if path is None:
            results.append(VerifyResult(entry.name, entry.kind, None, "missing", str(_missing_error(entry))))
            continue
        try:
            verify_file(path, entry=entry, manifest=manifest)
        except ModelError as exc:
            results.append(VerifyResult(entry.name, entry.kind, path, "bad", str(exc)))
            continue
        status = "ok" if entry.sha256 else "no hash"
        results.append(VerifyResult(entry.name, entry.kind, path, status,
                                    "verified" if entry.sha256 else "no known sha256 to check against"))
    return results


def partial_download_path(entry: ModelEntry) -> Path:
    """Where `fetch` downloads `entry` before it is verified, and what a stopped fetch leaves to resume."""
    return fetch_dir() / (entry.file + ".part")


def fetch(name: str, *, allow_unverified: bool = False, ssl_context: ssl.SSLContext | None = None,
          progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Download a user model over HTTPS into fetch_dir(), resumably, and verify it before it is used.

    The download goes to `<file>.part` beside the final name (an existing .part resumes with an HTTP
    Range request) and is moved into place only once its size and sha256 match the manifest. A file
    already there that fails verification (perhaps the user's own) is kept beside it, renamed.
    """
    manifest = load_manifest()
    entry = manifest.entries.get(name)
    if entry is None:
        raise unknown_model(name, manifest)
    if entry.builtin:
        raise ModelError(f"'{name}' is a built-in model: it ships with nodegraph and is never downloaded; "
                         "if it is missing or corrupt, re-clone the repository or reinstall nodegraph")
    final = fetch_dir() / entry.file
    if not entry.url:
        raise ModelError(f"model '{name}' has no download URL in {manifest.path}; place {entry.file} "
                         f"by hand at {final}")
    if urlsplit(entry.url).scheme != "https":
        raise ModelError(f"refusing to fetch '{name}' from {entry.url}: only https:// URLs are allowed "
                         f"(fix the URL in {manifest.path}, or place the file by hand at {final})")
    if entry.sha256 is None and not allow_unverified:
        raise ModelError(f"refusing to fetch '{name}': the manifest has no sha256 for it, so the download "
                         "could not be checked; pass --allow-unverified to fetch it anyway")
    if final.is_dir() and not final.is_symlink():  # found only after the whole download, as a traceback
        raise ModelError(f"{final} is a folder, where the model '{name}' goes; move it away or rename it, and "
                         "fetch again")
    if final.is_file():
        try:
            return verify_file(final, entry=entry, manifest=manifest)
        except ModelError:
            log.info("%s: existing %s fails verification; downloading it (yours is kept beside it)", name, final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where the folder goes, a read-only disk
        setting = fetch_dir_setting()
        chosen = f" (chosen by {setting}={os.environ[setting]})" if setting else ""
        reason = {errno.EEXIST: "a file is there", errno.ENOTDIR: "a file is in its path"}.get(exc.errno, exc.strerror)
        raise ModelError(f"cannot make the model folder {final.parent}{chosen}: {reason}; point "
                         f"{setting or 'NODEGRAPH_MODELS'} at a folder you can write") from None
    part = partial_download_path(entry)
    with claimed(entry, part) as waited:
        if waited and final.is_file():  # the fetch that held the .part may have installed the model
            try:
                return verify_file(final, entry=entry, manifest=manifest)
            except ModelError:
                pass
        download(entry, part, ssl_context, progress, _by_hand(entry, final))
        digest = _check_download(entry, part)
        if final.is_file() or final.is_symlink():
            log.warning("%s: %s is not the catalogue's file; kept it as %s and installed the verified "
                        "download in its place", name, final, move_aside(final))
        os.replace(part, final)
        # the next resolve (the editor's check of its graph, on its UI thread) must not hash it again: 1 s for 400 MB
        _hash_cache[_hash_key(final, final.stat())] = digest
    return final


def _check_download(entry: ModelEntry, part: Path) -> str:
    """The download's sha256, once it is the model the catalogue describes; else the refusal."""
    size = part.stat().st_size
    if (page := page_start(part)) is not None:  # said before the size: a page is what a refused download gets
        raise refuse(entry, part, f"the server sent a web page or other text (it begins {page!r}), not the model")
    if entry.size is not None and size != entry.size:
        raise refuse(entry, part, f"it is {size} bytes, expected {entry.size}")
    digest = _sha256(part, part.stat())
    if entry.sha256 is None:
        log.warning("%s: fetched without a known sha256 (--allow-unverified); its sha256 is %s", entry.name, digest)
    elif digest != entry.sha256:
        raise refuse(entry, part, f"its sha256 is {digest}, expected {entry.sha256}")
    return digest


_hash_cache: dict[tuple[str, int, int], str] = {}


def _hash_key(path: Path, stat: os.stat_result) -> tuple[str, int, int]:
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _sha256(path: Path, stat: os.stat_result) -> str:
    key = _hash_key(path, stat)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(_CHUNK):
                digest.update(block)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def _missing_error(entry: ModelEntry) -> ModelError:
    """Why no model folder holds `entry`; where nothing stands in its way, `not_installed` names it."""
    message = _in_the_way(entry)
    if message is None and entry.builtin:
        looked = ", ".join(str(folder) for folder in search_dirs())
        message = (f"built-in model '{entry.name}' ({entry.file}) is missing (looked in {looked}); "
                   "re-clone the repository or reinstall nodegraph (pip install --force-reinstall nodegraph)")
    if message is not None:
        return ModelError(message)
    error = ModelError(not_installed(entry, f"fetch it with `nodegraph models fetch {entry.name}`"))
    error.not_installed = entry.name
    return error


def _in_the_way(entry: ModelEntry) -> str | None:
    """What stands where the model's file or folder goes (a file for the folder, a folder for the file)."""
    paths = [folder / entry.file for folder in search_dirs()]
    odd = neither_file_nor_folder(paths)
    if odd:
        return odd
    if no_folder := next((folder for folder in search_dirs() if _is_there(folder)), None):  # the setting's a file
        setting, chosen = _chosen_by(no_folder)
        fix = f"point {setting} at the folder that holds {entry.file}" if setting else "move that file away"
        return f"the model folder {no_folder}{chosen} is a file, not a folder; {fix}"
    if in_the_way := next((path for path in paths if _is_there(path, folder=True)), None):
        then = "" if entry.builtin else f", then fetch it with `nodegraph models fetch {entry.name}`"
        return f"{in_the_way} is a folder, where the model '{entry.name}' goes; move it away or rename it{then}"
    return None


def not_installed(entry: ModelEntry, how_to_fetch: str) -> str:
    """A catalogue model that no model folder holds, with `how_to_fetch` it (the command line's words or the
    editor's menu)."""
    looked = ", ".join(str(folder) for folder in search_dirs())
    return (f"model '{entry.name}' ({entry.file}) is not installed (looked in {looked}); {how_to_fetch}, "
            f"or place the file by hand in {fetch_dir()}")


def _fix(path: Path, entry: ModelEntry | None, differs: bool = False) -> str:
    """What to do about a model file that is not usable; `differs`: it is whole but not the catalogue's file."""
    if entry is None:
        return "replace it with a good copy"
    if not entry.builtin:
        own = (f"; if it is deliberately another model (your own), keep it under another file name: {entry.file} "
               "is the catalogue's name, checked by its sha256") if differs else ""
        return (f"delete it and fetch it again with `nodegraph models fetch {entry.name}` (downloads into "
                f"{fetch_dir()}), or replace it by hand with a good copy{own}")
    builtin = builtin_dir()
    if builtin is not None and path.parent.resolve() == builtin.resolve():
        return ("it is a built-in model: restore it from the repository (re-clone, or `git checkout -- "
                f"models/{entry.file}`) or reinstall nodegraph (pip install --force-reinstall nodegraph)")
    return (f"it shadows the built-in model '{entry.name}': delete it so the built-in copy is used, "
            "or give it another file name if it is deliberately a different model")


def _by_hand(entry: ModelEntry, final: Path) -> str:
    facts = ", ".join(x for x in (f"sha256 {entry.sha256}" if entry.sha256 else "",
                                  f"{entry.size} bytes" if entry.size else "") if x)
    return (f"download {entry.url} on another machine and place it by hand at {final}"
            f"{f' ({facts})' if facts else ''}, then run `nodegraph models verify {entry.name}`.")
