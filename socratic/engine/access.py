"""What a pipeline touches beyond its inputs: the files it reads, the environment variables it sends as API keys
and the hosts it sends data to (`socratic validate` lists them), with the rules of docs/trust.md applied to what a
pipeline *file* wrote: a file it names lies in its folder (or a shipped or allowed one), a key variable is meant as a
credential. Values set from Python are the caller's own and only listed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..paths import pipeline_path, prompt_search_path
from ..trust import may_read, may_send_as_key
from ..types import Audio, FilePath, Image, Prompt, Video, Vocab, item_type, takes

DEFAULT_BASE_URL = "https://api.openai.com/v1"  # the openai backends' default (models/lm_openai.py)
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
HUB = "https://huggingface.co"
_MEDIA = (Image, Video, Audio, Path)
_MISSING = object()

Problem = Callable[..., None]  # validate's problem(msg, key, node=, fld=)


@dataclass
class Access:
    reads: dict[str, list[str]] = field(default_factory=dict)  # path -> what reads it
    env: dict[str, list[str]] = field(default_factory=dict)  # variable -> what sends it
    hosts: dict[str, list[str]] = field(default_factory=dict)  # URL -> what sends to it

    def add(self, table: dict[str, list[str]], what: str, why: str) -> None:
        if why not in table.setdefault(what, []):
            table[what].append(why)

    def lines(self) -> list[str]:
        """`reads: ...`, `environment: ...`, `sends to: ...` (each `none` when empty)."""
        def fmt(table: dict[str, list[str]]) -> str:
            return "; ".join(f"{k} ({', '.join(v)})" for k, v in table.items()) or "none"

        return [f"reads: {fmt(self.reads)}", f"environment: {fmt(self.env)}", f"sends to: {fmt(self.hosts)}"]


def check_access(p: Any, types: dict[str, Any], params: dict[str, dict[str, Any]], input_types: dict[str, Any],
                 problem: Problem) -> Access:
    """List what the expanded pipeline `p` touches; each breach of the rules by a pipeline file is a `problem`."""
    acc = Access()
    folders = _entry_folders(p)

    def in_file(key: str) -> bool:
        file = p.file_of(key)
        return bool(file) and not str(file).startswith("<")

    def written(key: str, value: Any) -> bool:
        """Whether `value` is what a pipeline file wrote at `key` (not something Python set since)."""
        return in_file(key) and p.written.get(key, _MISSING) == value

    def read(path: Path, why: str, key: str | None, node: str | None, fld: str | None) -> None:
        acc.add(acc.reads, _shown(path), why)
        if key is not None and not may_read(path, folders):
            problem(f"reads {path}, outside the pipeline's folder ({', '.join(map(str, folders))}) and the shipped "
                    "prompts and pipelines; if you trust this pipeline, allow it with --allow-read DIR (or "
                    "$SOCRATIC_ALLOW_READ)", key, node=node, fld=fld)

    for g in p.groups.values():
        if g.file:
            key = f"nodes.{g.name}.params.file"
            read(Path(g.file), f"pipeline included by node '{g.name}'", key if in_file(key) else None, g.name, "file")
    for name, ns in p.nodes.items():
        nt = types.get(name)
        if nt is None:
            continue
        base = _base(p.file_of(f"nodes.{name}"))
        for k, param in nt.params.items():
            key, raw = f"nodes.{name}.params.{k}", ns.params.get(k)
            check = key if written(key, raw) else None
            if param.type is Prompt:
                found = prompt_file(raw, base)
                if found is not None:
                    read(found, f"prompt of node '{name}'", check, name, k)
            elif takes(param.type, FilePath) or takes(param.type, Vocab):
                value = params.get(name, {}).get(k)
                if isinstance(value, str) and value and Path(value).is_absolute() and Path(value).exists():
                    read(Path(value), f"{k} of node '{name}'", check, name, k)
    for name, spec in p.inputs.items():
        t = input_types.get(name)
        if not (t in _MEDIA or item_type(t) in _MEDIA) or t is None:
            continue
        key = f"inputs.{name}"
        values = spec.default if isinstance(spec.default, list) else [spec.default]
        for v in values:
            if isinstance(v, str) and v:
                for found in _candidates(v, _base(p.file_of(key))):
                    read(found, f"default of input '{name}'", key if written(key, spec.default) else None, None,
                         key)
    for name, spec in p.models.items():
        _model(acc, name, spec, f"models.{name}", written(f"models.{name}", spec), problem)
    return acc


def prompt_file(value: Any, base: Path | None) -> Path | None:
    """The file a `{file: path}` prompt names: relative to the YAML file's folder `base`, else a shipped prompt;
    None for inline text or when there is no such file."""
    if not (isinstance(value, dict) and set(value) == {"file"}):
        return None
    rel = Path(str(value["file"]))
    candidates = [rel] if rel.is_absolute() else [d / rel for d in prompt_search_path(base)]
    return next((c for c in candidates if c.is_file()), None)


def _model(acc: Access, name: str, spec: dict[str, Any], key: str, from_file: bool, problem: Problem) -> None:
    why = f"model '{name}'"
    if spec.get("path"):
        acc.add(acc.reads, str(spec["path"]), f"weights of {why}")
    if spec.get("backend") == "openai" or "base_url" in spec:
        acc.add(acc.hosts, str(spec.get("base_url") or DEFAULT_BASE_URL), why)
        env = str(spec.get("api_key_env") or DEFAULT_KEY_ENV)
        acc.add(acc.env, env, f"API key of {why}")
        if from_file and not may_send_as_key(env):
            problem(f"api_key_env names {env}, which is not meant as a credential (names ending in _API_KEY or "
                    "_TOKEN are); a pipeline file cannot send other variables to a server. If you trust it, allow "
                    f"it with --allow-env {env} (or $SOCRATIC_ALLOW_KEY_ENV)", key, fld=f"{key}.api_key_env")
    if spec.get("id") and spec.get("download"):
        acc.add(acc.hosts, HUB, f"{why} download")


def _entry_folders(p: Any) -> list[Path]:
    """The pipeline's own folder (the working dir for one built in Python) and that of every file Python itself
    included: what their files name may lie there."""
    folders = [_base(p.source) or Path.cwd().resolve()]
    for g in p.groups.values():
        key = f"nodes.{g.name}.params.file"
        file = p.file_of(key)
        if g.file and not (file and not str(file).startswith("<") and key in p.written):
            folders.append(Path(g.file).resolve().parent)
    return list(dict.fromkeys(folders))


def _base(file: str | None) -> Path | None:
    return Path(file).resolve().parent if file and not str(file).startswith("<") else None


def _candidates(value: str, base: Path | None) -> list[Path]:
    """Where a file input's default may be read: beside the YAML, and in the working dir."""
    found = [pipeline_path(value, base), pipeline_path(value, None)]
    return list(dict.fromkeys(f.resolve() for f in found if f is not None))


def _shown(path: Path) -> str:
    real = Path(path).resolve()
    return str(real.relative_to(Path.cwd())) if real.is_relative_to(Path.cwd()) else str(real)
