"""The one JSON Lines reader in its three modes, on a real file with a bad middle line and a torn last line."""

import codecs
import json

import pytest

from socratic import SocraticError
from socratic.json_lines import LENIENT, NOT_OBJECT, PER_ROW, STRICT, read_jsonl

GOOD = [{"id": "a", "text": "é"}, {"id": "b", "text": "ok"}]


def _write(path, middle: str, tail: bytes):
    """Line 1 good (after a BOM), line 2 `middle`, a blank line 3, line 4 good, then `tail` with no newline."""
    body = "\n".join([json.dumps(GOOD[0], ensure_ascii=False), middle, "", json.dumps(GOOD[1])]) + "\n"
    path.write_bytes(codecs.BOM_UTF8 + body.encode("utf-8") + tail)
    return path


def test_three_modes_on_a_damaged_file(tmp_path):
    torn = '{"id": "c", "text": "caf\u00e9'.encode("utf-8")[:-1]  # cut inside the é, as a kill leaves it
    path = _write(tmp_path / "out.jsonl", '{"id": "x", oops', torn)

    with pytest.raises(SocraticError) as exc:
        list(read_jsonl(path, STRICT))
    assert str(exc.value).startswith(f"{path}:2: invalid JSON: ") and "\n" not in str(exc.value)

    rows = list(read_jsonl(path, PER_ROW))
    assert [(r.number, r.value, r.error is None) for r in rows] == [
        (1, GOOD[0], True), (2, None, False), (4, GOOD[1], True), (5, None, False)]
    assert rows[1].error.startswith("invalid JSON: ")
    assert rows[3].error.startswith("not UTF-8 text (byte 0xc3)")

    with pytest.raises(SocraticError, match=r"out\.jsonl:2: invalid JSON"):  # only the last line may be torn
        list(read_jsonl(path, LENIENT))
    _write(path, json.dumps([1, 2]), torn)
    with pytest.raises(SocraticError, match=rf"out\.jsonl:2: {NOT_OBJECT}"):
        list(read_jsonl(path, LENIENT))
    _write(path, json.dumps({"id": "m"}), torn)
    assert [(r.number, r.value) for r in read_jsonl(path, LENIENT)] == [(1, GOOD[0]), (2, {"id": "m"}), (4, GOOD[1])]


def test_a_complete_last_line_without_newline_is_read_and_a_bad_terminated_one_is_not_torn(tmp_path):
    path = _write(tmp_path / "out.jsonl", json.dumps({"id": "m"}), json.dumps({"id": "c"}).encode())
    assert [r.value["id"] for r in read_jsonl(path, LENIENT)] == ["a", "m", "b", "c"]
    path.write_bytes(path.read_bytes()[:-1] + b"\n")  # `{"id": "c"` then a newline: a damaged line, not a torn one
    with pytest.raises(SocraticError, match=r"out\.jsonl:5: invalid JSON"):
        list(read_jsonl(path, LENIENT))


def test_any_json_value_when_objects_are_not_required(tmp_path):
    path = _write(tmp_path / "p.jsonl", "[1, 2]", b"7")
    assert [r.value for r in read_jsonl(path, STRICT, objects=False)] == [GOOD[0], [1, 2], GOOD[1], 7]
    with pytest.raises(SocraticError, match=rf"p\.jsonl:2: {NOT_OBJECT}"):
        list(read_jsonl(path))
