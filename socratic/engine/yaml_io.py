"""safe_load with line numbers: every mapping remembers the line of each key; duplicate keys are reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import SocraticError


class LineDict(dict):
    """A mapping from YAML that knows its own line and each key's line (1-based)."""

    line: int | None = None
    key_lines: dict[str, int]
    duplicates: list[tuple[str, int]]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line, out.key_lines, out.duplicates = node.start_mark.line + 1, {}, []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in out:
            out.duplicates.append((key, line))
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, file: str | None = None) -> Any:
    """Parse YAML safely (no object construction); errors name the file and line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SocraticError(f"invalid YAML: {exc.problem or exc.context}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise SocraticError(f"invalid YAML: {exc}", file=file) from None


def load_yaml_file(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SocraticError("file not found", file=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SocraticError(f"cannot read: {exc}", file=str(p)) from None
    return load_yaml(text, str(p))


def plain(obj: Any) -> Any:
    """LineDicts back to plain dicts (for dumping)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(plain(obj), sort_keys=False, allow_unicode=True, width=100)


def line_of(mapping: Any, key: str | None = None) -> int | None:
    if not isinstance(mapping, LineDict):
        return None
    return mapping.key_lines.get(key) if key is not None else mapping.line
