"""The object vocabulary's filter list is a named option: ours (shipped) or the profanity-filter package's."""

from __future__ import annotations

import sys

import pytest

from socratic.errors import SocraticError
from socratic.vocab import load_vocab
from socratic.vocab.build_objects import OUTPUT, WORD_LIST, filter_list_path, main


def test_named_lists_and_paths(tmp_path):
    assert filter_list_path("ours") == WORD_LIST
    words = tmp_path / "words.txt"
    words.write_text("# comment\npanda\n")
    assert filter_list_path(str(words)) == words
    with pytest.raises(SocraticError, match="unknown filter list 'nope'"):
        filter_list_path("nope")


def test_build_with_a_word_list_file(tmp_path, capsys):
    words = tmp_path / "words.txt"
    words.write_text("panda\n")
    out = tmp_path / "objects.txt"
    assert main(["--filter-list", str(words), "--out", str(out)]) == 0
    got = out.read_text().splitlines()
    shipped = load_vocab("objects")
    assert "giant panda, panda, panda bear, Ailuropoda melanoleuca" in shipped
    assert not any("panda" in e.lower().split(", ") for e in got)
    assert "coon bear, Ailuropoda melanoleuca" in got  # every synonym holding the word "panda" dropped
    assert main(["--filter-list", str(words), "--out", str(out)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_profanity_filter_list_from_an_installed_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "profanity_filter", None)  # whatever is installed, hide it first
    monkeypatch.delitem(sys.modules, "profanity_filter")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "empty")] + [p for p in sys.path if "site-packages" not in p])
    assert main(["--filter-list", "profanity-filter", "--out", str(tmp_path / "o.txt")]) == 2
    err = capsys.readouterr().err
    assert "profanity-filter package is not installed" in err and len(err.strip().splitlines()) == 1
    pkg = tmp_path / "site" / "profanity_filter"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('never imported')\n")
    (pkg / "data" / "en_profane_words.txt").write_text("coon\nsquaw\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    out = tmp_path / "pf.txt"
    assert main(["--filter-list", "profanity-filter", "--out", str(out)]) == 0
    got = out.read_text().splitlines()
    assert "common raccoon, common racoon, ringtail, Procyon lotor" in got      # "coon" synonym dropped
    assert "squaw grass, bear grass, Xerophyllum tenax" not in got
    assert "bear grass, Xerophyllum tenax" in got


def test_other_lists_never_write_the_shipped_file(capsys):
    before = OUTPUT.read_bytes()
    assert main(["--filter-list", str(WORD_LIST)]) == 2
    assert "give --out" in capsys.readouterr().err and OUTPUT.read_bytes() == before
