"""Atomic writes leave ordinary files: the whole content or the old file, with the mode a plain write would give."""

import os
import stat

import pytest

from socratic.paths import write_atomic


def test_atomic_write_has_the_umask_mode_and_no_leftovers(tmp_path):
    old = os.umask(0o027)
    try:
        import importlib

        import socratic.paths as paths

        importlib.reload(paths)  # the module reads the umask at import
        paths.write_atomic(tmp_path / "a.json", "{}")
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640
    finally:
        os.umask(old)
        importlib.reload(paths)
    write_atomic(tmp_path / "b.json", b"x")
    assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o666 & ~old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, 123)  # not bytes or text
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
