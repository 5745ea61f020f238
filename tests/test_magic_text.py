"""MAGiC's incremental text path equals the from-scratch computation: LM decoding, CLIP tokenisation, CLIP encoding."""

import random

import pytest
import torch
import torch.nn.functional as F

from socratic.magic.clip_text import ClipTokens, HeadState, PrefixTextEncoder, TextTower, is_plain
from socratic.magic.lm_text import LmText
from socratic.magic.offline import random_clip
from support.magic import _one_thread, tok  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def ctok():
    return random_clip("tiny")[2]


def scratch_clip(ctok, text):
    """open_clip's own tokenisation of one text, padding removed."""
    row = ctok([text])[0].tolist()
    while row and row[-1] == 0:
        row.pop()
    return row


# ---- LM side ---------------------------------------------------------------------------------------

def test_gpt2_tokenizer_is_byte_level_and_has_magic_tokens(tok):
    assert len(tok) == 50259
    assert tok("<-start_of_text->", add_special_tokens=False)["input_ids"] == [50257]
    assert tok.eos_token_id == 50256 and tok.pad_token_id == 50258
    assert tok.decode(tok("A man riding a horse.")["input_ids"]) == "A man riding a horse."
    assert LmText(tok).strategy == "bytes"


@pytest.mark.parametrize("strategy", ["auto", "decode"])
@pytest.mark.parametrize("window", [60, 5, 1])
def test_candidate_texts_equal_decoding_from_scratch(tok, strategy, window):
    lt = LmText(tok, window=window, strategy=strategy)
    rng = random.Random(window)
    # ids that split UTF-8 characters across tokens, special tokens, plain words
    high = [i for i in range(256, 50256) if any(b >= 0x80 for b in tok.decode([i]).encode("utf-8", "replace"))][:300]
    split = [i for i in range(0, 256) if tok.decode([i]) == "\ufffd"]
    pool = high + split + [50256, 50257, 50258] + list(range(300, 2000))
    for trial in range(4):
        row = lt.new_row()
        for step in range(14):
            cand = [rng.choice(pool) for _ in range(9)]
            got = lt.candidates(row, cand)
            want = [tok.decode((row.ids + [v])[-window:]) for v in cand]
            assert got == want
            lt.advance(row, rng.choice(cand))
            assert lt.text(row) == tok.decode(row.ids[-window:])


def test_non_byte_level_tokenizer_falls_back_to_decoding(tok):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["a", "man", "dog", "on", "the", "grass", "[UNK]", "[EOS]"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    wl = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="[EOS]", unk_token="[UNK]")
    lt = LmText(wl, window=3)
    assert lt.strategy == "decode"
    row = lt.new_row()
    for step, v in enumerate([1, 2, 3, 4, 5]):
        assert lt.candidates(row, [0, 2]) == [wl.decode((row.ids + [c])[-3:]) for c in (0, 2)]
        lt.advance(row, v)


# ---- CLIP tokenisation ---------------------------------------------------------------------------------

WORDS = ["a", "man", "riding", "horse", "on", "the", "beach", "A", "Dog's", "isn't", "we'll", "2021", "x2",
         "...", ",", ".", "!?", "(hi)", "<start_of_text>", "<end_of_text>", "&amp;", "&", "café", "naïve", "日本",
         "\u00a0", "\t", "\n", "ﬁne", "“quoted”", "Ã©", "\u200b", "--", "'", "s", "d", "e.g.", "A.B"]


PLAIN = [w for w in WORDS if is_plain(w)]


def random_text(rng, n, words=WORDS):
    out = []
    for _ in range(n):
        w = rng.choice(words)
        out.append(w if rng.random() < 0.3 else (" " + w))
    return "".join(out)


@pytest.mark.parametrize("words", [WORDS, PLAIN], ids=["mixed", "plain"])
def test_incremental_clip_tokens_equal_scratch(ctok, words):
    ct = ClipTokens(ctok)
    assert ct.incremental
    rng = random.Random(0)
    for trial in range(60):
        state = HeadState()
        prefix = ""
        for step in range(rng.randint(1, 30)):
            ct.advance(state, prefix)
            pieces = [random_text(rng, rng.randint(0, 2), words) for _ in range(6)]
            for piece in pieces:
                text = prefix + piece
                assert ct.encode(text, state) == scratch_clip(ctok, text), repr(text)
            prefix += rng.choice(pieces)
    if words is PLAIN:
        assert ct.stats["scratch"] == 0 and ct.stats["incremental"] > 1000
    else:
        assert ct.stats["scratch"] > 0 and ct.stats["incremental"] > 0


def test_incremental_clip_tokens_truncate_like_the_tokenizer(ctok):
    ct = ClipTokens(ctok)
    state = HeadState()
    prefix = " a man riding a horse on the beach" * 12  # > 77 CLIP tokens
    ct.advance(state, prefix)
    for piece in [" dog", "s", "", " x" * 40, " naïve"]:
        got = ct.encode(prefix + piece, state)
        assert got == scratch_clip(ctok, prefix + piece) and len(got) == 77
    assert ct.stats["incremental"] >= 4


def test_head_only_used_when_text_extends_it(ctok):
    ct = ClipTokens(ctok)
    state = HeadState()
    ct.advance(state, " a man riding")
    assert state.head == " a man"
    for text in [" a many", " a man", " a", "a man riding", " A MAN riding", " a man  riding"]:
        assert ct.encode(text, state) == scratch_clip(ctok, text)


def test_plain_text_check():
    assert is_plain(" a man, riding; (2) horses!")
    for bad in ["café", "a&b", "a\tb", "a\nb", "\x1b[0m", "\u00a0"]:
        assert not is_plain(bad)


# ---- CLIP text encoder ---------------------------------------------------------------------------------

def reference_embeddings(clip, lists):
    rows = torch.zeros(len(lists), 77, dtype=torch.long)
    for i, t in enumerate(lists):
        rows[i, :len(t)] = torch.tensor(t)
    with torch.no_grad():
        return F.normalize(clip.encode_text(rows).float(), dim=-1)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-5)])
def test_prefix_encoder_equals_encode_text(ctok, dtype, tol):
    clip = random_clip("tiny", dtype=dtype)[0]
    enc = PrefixTextEncoder(clip, 2, torch.device("cpu"))
    assert enc.fast
    ct = ClipTokens(ctok)
    rng = random.Random(1)
    prefixes, states = ["", " <end_of_text> x"], [HeadState(), HeadState()]
    for step in range(8):
        lists = []
        for r in range(2):
            ct.advance(states[r], prefixes[r])
            pieces = [random_text(rng, rng.randint(0, 2)) for _ in range(5)] + [""]  # duplicates possible
            lists.append([ct.encode(prefixes[r] + p, states[r]) for p in pieces])
        got = enc.encode(lists)
        want = reference_embeddings(clip, [t for row in lists for t in row]).view(2, 6, -1)
        assert (got - want).abs().max() < tol
        chosen = [rng.randrange(6) for _ in range(2)]
        enc.commit([lists[r][c][:enc.tower.pool_index(lists[r][c])] for r, c in enumerate(chosen)])
        prefixes = [prefixes[r] + " " + str(step) for r in range(2)]
    full = sum(len(t) for t in lists[0])
    assert enc.tokens_run < 8 * 2 * 6 * 77 and full > 0


def test_prefix_encoder_handles_truncated_texts(ctok):
    clip = random_clip("tiny", dtype=torch.float64)[0]
    enc = PrefixTextEncoder(clip, 1, torch.device("cpu"))
    ct = ClipTokens(ctok)
    base = " a man riding a horse" * 20
    lists = [[ct.scratch(base + p) for p in [" on", " at", "s"]]]
    got = enc.encode(lists)
    assert (got[0] - reference_embeddings(clip, lists[0])).abs().max() < 1e-9


def test_unsupported_text_tower_uses_encode_text(ctok):
    from open_clip.model import CustomTextCLIP

    torch.manual_seed(0)
    clip = CustomTextCLIP(embed_dim=32, vision_cfg=dict(image_size=32, layers=1, width=64, patch_size=16),
                          text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=4, layers=2,
                                        no_causal_mask=True, pool_type="last")).eval()
    tower = TextTower(clip)
    assert not tower.supported
    enc = PrefixTextEncoder(clip, 1, torch.device("cpu"))
    lists = [[ct for ct in (scratch_clip(ctok, " a man"), scratch_clip(ctok, " a dog"))]]
    got = enc.encode(lists)
    assert (got[0] - reference_embeddings(clip, lists[0])).abs().max() < 1e-6
