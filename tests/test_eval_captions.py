"""`socratic eval captions` against pycocoevalcap called directly, on a small hand-made set (needs Java)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from socratic.errors import SocraticError
from socratic.eval.captions import evaluate_files, load_predictions, load_references
from socratic.eval.cli import eval_app

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="needs Java (scripts/setup.sh installs it)")

REFS = {  # image id -> references (raw: case, punctuation and a trailing space as in COCO)
    42: ["A man riding a brown horse on a beach.", "a person rides a horse near the ocean ",
         "Man on horseback by the sea."],
    73: ["Two dogs play in the snow.", "Dogs running through snow in a park.", "two puppies in the snow"],
    99: ["A plate of pasta with tomato sauce.", "Spaghetti with red sauce on a white plate.",
         "a bowl of noodles"],
}
PREDS = {42: "a man riding a horse on the beach", 73: "two dogs playing in the snow",
         99: "a white plate with food on it"}


def _refs_file(tmp_path):
    p = tmp_path / "captions_val.json"
    p.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg"} for i in REFS],
        "annotations": [{"image_id": i, "id": 100 * i + k, "caption": c} for i, cs in REFS.items()
                        for k, c in enumerate(cs)]}))
    return p


def _direct(preds):
    """The official library on its own: PTB tokenizer, then each scorer."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": c} for c in REFS[i]] for i in preds})
    res = tok.tokenize({i: [{"caption": preds[i]}] for i in preds})
    out = {}
    with contextlib.redirect_stdout(io.StringIO()):
        b, _ = Bleu(4).compute_score(gts, res)
        out.update({f"Bleu_{n + 1}": v for n, v in enumerate(b)})
        out["METEOR"] = Meteor().compute_score(gts, res)[0]
        out["ROUGE_L"] = Rouge().compute_score(gts, res)[0]
        out["CIDEr"] = Cider().compute_score(gts, res)[0]
    return out


@pytest.fixture(scope="module")
def direct():
    return _direct(PREDS)


def test_dataset_jsonl_matches_pycocoevalcap(tmp_path, direct):
    refs = _refs_file(tmp_path)
    pred = tmp_path / "magic.jsonl"  # a `socratic run --dataset` over a folder: ids are file names
    pred.write_text("".join(json.dumps({"id": f"COCO_val2014_{i:012d}.jpg", "outputs": {"caption": c},
                                        "warnings": []}) + "\n" for i, c in PREDS.items()))
    res = evaluate_files(refs, pred)
    assert set(res.scores) >= set(direct)
    for name, v in direct.items():
        assert res.scores[name] == pytest.approx(v, abs=1e-9), name
    assert res.n_images == 3 and set(res.per_image) == {"42", "73", "99"}
    assert 0 < res.scores["CIDEr"] and res.scores["Bleu_1"] > res.scores["Bleu_4"]


def test_cli_coco_results_list(tmp_path, direct):
    refs = _refs_file(tmp_path)
    pred = tmp_path / "results.json"
    pred.write_text(json.dumps([{"image_id": i, "caption": c} for i, c in PREDS.items()]))
    out = tmp_path / "scores.json"
    r = CliRunner().invoke(eval_app, ["captions", "--references", str(refs), "--predictions", str(pred),
                                      "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert f"CIDEr: {direct['CIDEr']:.3f}" in r.output and f"Bleu_4: {direct['Bleu_4']:.3f}" in r.output
    assert "SPICE skipped:" in r.output and "not present locally" in r.output  # no CoreNLP models here
    saved = json.loads(out.read_text())
    assert saved["scores"]["METEOR"] == pytest.approx(direct["METEOR"])


def test_bad_input_counted_or_one_line(tmp_path):
    refs = _refs_file(tmp_path)
    names = {f"COCO_val2014_{i:012d}.jpg": str(i) for i in REFS}
    loaded = {str(i): v for i, v in REFS.items()}
    pred = tmp_path / "p.jsonl"
    pred.write_text('{"id": "42", "outputs": {"caption": "a horse"}}\n'
                    '{"id": "42", "outputs": {"caption": "a man on a horse"}}\n'
                    '{"id": "73", "error": "LM failed"}\n'
                    '{"image_id": 5, "caption": "unknown"}\n'
                    '{"image_id": 99, "caption": "  "}\n')
    preds, warnings = load_predictions(pred, names, loaded)
    assert preds == {"42": "a man on a horse", "99": "  "}
    assert "1 duplicate prediction(s): the later record of an image wins" in warnings
    assert "1 image(s) whose latest record is a failure (no caption) skipped" in warnings
    assert "1 prediction(s) for images not in the references ignored: 5" in warnings
    assert "1 empty caption(s) scored as empty: 99" in warnings
    with pytest.raises(SocraticError, match="1 of 3 reference images have no caption: 73"):
        evaluate_files(refs, pred)
    pred.write_text('{"id": "42", "outputs": {"caption": "x"}}\n{oops\n')
    with pytest.raises(SocraticError, match=r"p.jsonl:2: invalid JSON"):
        load_predictions(pred, names, loaded)
    pred.write_text('{"id": "42", "outputs": {"text": "x"}}\n')
    with pytest.raises(SocraticError, match="no 'caption' in 'outputs'"):
        load_predictions(pred, names, loaded)
    (tmp_path / "bad.json").write_text('{"images": []}')
    with pytest.raises(SocraticError, match="'annotations' list"):
        load_references(tmp_path / "bad.json")


def test_missing_java_is_one_line(tmp_path):
    refs = _refs_file(tmp_path)
    pred = tmp_path / "results.json"
    pred.write_text(json.dumps([{"image_id": i, "caption": c} for i, c in PREDS.items()]))
    nojava = tmp_path / "bin"
    nojava.mkdir()
    r = CliRunner().invoke(eval_app, ["captions", "--references", str(refs), "--predictions", str(pred)],
                           env={"PATH": str(nojava)})
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1 and "need Java" in r.output and "default-jre-headless" in r.output
    assert os.environ["PATH"] != str(nojava)
