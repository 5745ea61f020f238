import re

import pytest

from socratic.errors import SocraticError
from socratic.vocab import BUILTIN, VOCAB_DIR, format_place_name, load_vocab
from socratic.vocab.build_objects import (DICTIONARY, build_objects, clean_synonyms, load_word_list,
                                          word_filter)


@pytest.mark.parametrize("name,count", [("places365", 365), ("places", 365), ("openimages", 601), ("coco", 80),
                                        ("audioset", 527), ("audioset_short", 527), ("kinetics", 400)])
def test_builtin_sizes(name, count):
    labels = load_vocab(name)
    assert len(labels) == count
    assert all(label == label.strip() and label for label in labels)


def test_every_builtin_file_ships_with_attribution():
    sources = (VOCAB_DIR / "SOURCES.md").read_text()
    for file in set(BUILTIN.values()) | {"places365_raw.txt", "tencent_ml_images_dictionary_raw.txt",
                                         "offensive_words.txt"}:
        assert (VOCAB_DIR / file).is_file(), file
        assert f"| {file} |" in sources, file


def test_load_vocab_from_path_and_errors(tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("red car\n\n  blue bus  \n")
    assert load_vocab(f) == ["red car", "blue bus"]
    assert load_vocab(str(f)) == ["red car", "blue bus"]
    with pytest.raises(SocraticError, match="unknown vocabulary 'nope'"):
        load_vocab("nope")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(SocraticError, match="empty"):
        load_vocab(tmp_path / "empty.txt")


def test_load_vocab_returns_a_fresh_list():
    a = load_vocab("coco")
    a.append("x")
    assert load_vocab("coco")[-1] != "x"


def test_place_name_formatting():
    assert format_place_name("/b/bow_window/indoor") == "indoor bow window"
    assert format_place_name("/a/apartment_building/outdoor 8") == "outdoor apartment building"
    assert format_place_name("/a/airfield 0") == "airfield"
    with pytest.raises(SocraticError):
        format_place_name("airfield")


def test_shipped_places_are_the_formatted_raw_names():
    raw = (VOCAB_DIR / "places365_raw.txt").read_text().splitlines()
    assert [format_place_name(r) for r in raw] == load_vocab("places365")
    assert "indoor bow window" in load_vocab("places365")


def test_word_filter_is_whole_word_and_case_insensitive():
    bad = word_filter(["cock", "tit"])
    assert bad.search("Cock") and bad.search("turkey cock") and bad.search("cock-a-leekie")
    assert not bad.search("cockpit") and not bad.search("peacock") and not bad.search("Titan")
    assert clean_synonyms("cock, rooster", bad) == "rooster"
    assert clean_synonyms(" titmouse ,tit", bad) == "titmouse"
    assert clean_synonyms("cock", bad) == ""


def test_build_objects_rules():
    lines = ["category_index\tcategory_id\tindex_of_parent_category\tcategory name",
             "0\tn1\t-1\tcock, rooster",
             "1\tn2\t-1\tbitch",            # every synonym filtered: dropped
             "2\tn3\t-1\trooster",          # equals the first entry after filtering: de-duplicated
             "3\tn4\t-1\tkitchen",          # equals a place name: dropped
             "4\tn5\t-1\tkitchen, galley",  # not equal to a place name: kept
             "5\tn6\t-1\tmug"]
    assert build_objects(lines, ["kitchen", "airfield"], ["cock", "bitch"]) == \
        ["rooster", "kitchen, galley", "mug"]


def test_shipped_objects_match_the_derivation():
    objects = load_vocab("objects")
    rebuilt = build_objects(DICTIONARY.read_text().splitlines(), load_vocab("places365"), load_word_list())
    assert objects == rebuilt
    assert 10_000 < len(objects) < 11_166
    assert len(set(objects)) == len(objects)
    assert not set(objects) & set(load_vocab("places365"))
    bad = word_filter(load_word_list())
    assert not any(bad.search(o) for o in objects)
    # Spot checks on the real dictionary.
    assert "rooster" in objects and "cock, rooster" not in objects
    assert "kitty, kitty-cat, puss, pussycat" in objects
    assert "domestic ass, donkey, Equus asinus" not in objects and "donkey, Equus asinus" in objects
    assert "bitch" not in objects
    assert "attic" not in objects  # a Places365 name, alone in the dictionary
    assert "airfield, landing field, flying field, field" in objects
    assert objects[0] == "thing"  # dictionary order, header skipped


def test_word_list_is_plain_lowercase_words():
    words = load_word_list()
    assert 20 <= len(words) <= 100
    assert all(re.fullmatch(r"[a-z]+", w) for w in words)


def test_an_edited_vocabulary_file_is_reread(tmp_path):
    import os

    f = tmp_path / "v.txt"
    f.write_text("a\n")
    assert load_vocab(f) == ["a"]
    f.write_text("a\nb\n")
    os.utime(f, ns=(1, 10**18))
    assert load_vocab(f) == ["a", "b"]
