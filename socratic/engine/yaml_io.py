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


# Aliases (`*name`) repeat what an anchor (`&name`) holds. Nested, a few dozen of them make billions of values
# (a "billion laughs" bomb); the loader stops at these bounds, before building anything.
MAX_ALIASES = 1000  # alias uses in one file
MAX_EXPANDED_VALUES = 100_000  # values (scalars, lists, mappings) the aliases stand for, counted expanded
MAX_EXPANDED_CHARS = 10_000_000  # characters of text the aliases stand for, counted expanded


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer counts what every alias expands to and refuses recursive aliases."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.alias_count, self.expanded_values, self.expanded_chars = 0, 0, 0
        self._sizes: dict[int, tuple[int, int]] = {}
        self._open_anchors: set[str] = set()

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if event.anchor in self._open_anchors:
                raise _Refused(f"alias *{event.anchor} refers to a value that contains it (a recursive alias)",
                               event.start_mark)
            node = super().compose_node(parent, index)
            values, chars = self._size(node)
            self.alias_count += 1
            self.expanded_values += values
            self.expanded_chars += chars
            if (self.alias_count > MAX_ALIASES or self.expanded_values > MAX_EXPANDED_VALUES
                    or self.expanded_chars > MAX_EXPANDED_CHARS):
                raise _Refused(f"aliases expand too far (over {MAX_ALIASES} aliases, {MAX_EXPANDED_VALUES} "
                               f"values or {MAX_EXPANDED_CHARS} characters: a YAML alias bomb?); write the values "
                               "out", event.start_mark)
            return node
        anchor = getattr(self.peek_event(), "anchor", None)
        if anchor is None:
            return super().compose_node(parent, index)
        self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.discard(anchor)

    def _size(self, node: yaml.Node) -> tuple[int, int]:
        """(values, characters) of `node` with every alias inside it expanded (memoised: shared nodes once)."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.ScalarNode):
            size = (1, len(node.value))
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
            values, chars = 1, 0
            for child in children:
                v, c = self._size(child)
                values, chars = values + v, chars + c
            size = (values, chars)
        self._sizes[id(node)] = size
        return size


class _Refused(yaml.MarkedYAMLError):
    def __init__(self, problem: str, mark: yaml.Mark):
        super().__init__(problem=problem, problem_mark=mark)


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
    loader = None
    try:
        loader = _Loader(text)
        return loader.get_single_data()
    except _Refused as exc:
        raise SocraticError(str(exc.problem), file=file, line=exc.problem_mark.line + 1) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SocraticError(f"invalid YAML: {exc.problem or exc.context}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise SocraticError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        raise SocraticError("invalid YAML: nested too deeply", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


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
