"""MAGiC decoding on tiny random-init models, checked against a straightforward per-step computation.

The reference here recomputes everything at every step: the LM over the whole sequence (no cache), one LM
forward pass per candidate for its hidden state, the candidates' texts decoded from scratch and tokenised by
open_clip from scratch, CLIP's stock `encode_text`. Models run in float64 so that the comparison is about the
algorithm, not rounding.
"""

import math

import pytest
import torch

from socratic.errors import SocraticError
from socratic.magic import MagicLogitsProcessor, encode_images, magic_decode, magic_generate, magic_search
from socratic.magic.offline import random_clip, random_lm
from support.magic import _one_thread, tok, pictures  # noqa: F401  (fixtures)

START = 50257  # <-start_of_text->


@pytest.fixture(scope="module")
def models(tok):
    lm = random_lm(tok, dtype=torch.float64, seed=0)
    clip, preprocess, ctok = random_clip("tiny", dtype=torch.float64, seed=0)
    return lm, clip, preprocess, ctok


@pytest.fixture(scope="module")
def img(models):
    lm, clip, preprocess, _ = models
    return encode_images(clip, preprocess, pictures(3))


@torch.no_grad()
def reference_step(lm, tok, clip, ctok, image, prompt, gen, k, alpha, beta, window=60):
    """MAGiC's formula for one step, computed from scratch. Returns the chosen token id."""
    ids = list(prompt) + list(gen)
    out = lm(torch.tensor([ids]), output_hidden_states=True)
    logits, context = out.logits[0, -1], out.hidden_states[-1][0]
    probs = logits.softmax(-1)
    top = logits.topk(k).indices.tolist()
    if beta:
        texts = [tok.decode((list(gen) + [v])[-window:]) for v in top]
        emb = clip.encode_text(ctok(texts))
        emb = emb / emb.norm(dim=-1, keepdim=True)
        f = (clip.logit_scale.exp() * (emb @ image.to(emb.dtype))).softmax(0)
    best, choice = None, None
    for j, v in enumerate(top):
        score = (1 - alpha) * probs[v]
        if alpha:
            h = lm(torch.tensor([ids + [v]]), output_hidden_states=True).hidden_states[-1][0, -1]
            cos = (context / context.norm(dim=-1, keepdim=True)) @ (h / h.norm())
            score = score - alpha * cos.max()
        if beta:
            score = score + beta * f[j]
        if best is None or score > best:  # strict: ties keep the LM's earlier candidate
            best, choice = score, v
    return choice


def check_every_step(models, tok, img, token_ids, prompts, k, alpha, beta, window=60):
    lm, clip, _, ctok = models
    for r, gen in enumerate(token_ids):
        for t in range(len(gen)):
            assert gen[t] == reference_step(lm, tok, clip, ctok, img[r], prompts[r], gen[:t], k, alpha, beta,
                                            window), f"row {r} step {t}"


@pytest.mark.parametrize("candidates", ["tree", "expand"])
@pytest.mark.parametrize("alpha,beta", [(0.1, 2.0), (0.6, 0.15), (0.0, 1.0)])
def test_every_step_matches_the_formula(models, tok, img, candidates, alpha, beta):
    lm, clip, _, ctok = models
    out = magic_decode(lm, tok, clip, ctok, image_embeds=img, k=8, alpha=alpha, beta=beta, decoding_len=10,
                       candidates=candidates)
    assert [len(g) for g in out.token_ids] == [9, 9, 9]
    check_every_step(models, tok, img, out.token_ids, [[START]] * 3, 8, alpha, beta)


def test_small_clip_window_matches_the_formula(models, tok, img):
    lm, clip, _, ctok = models
    out = magic_decode(lm, tok, clip, ctok, image_embeds=img[:1], k=6, decoding_len=12, clip_window=3)
    check_every_step(models, tok, img, out.token_ids, [[START]], 6, 0.1, 2.0, window=3)


def test_alpha_0_beta_0_is_greedy(models, tok, img):
    lm, clip, _, ctok = models
    x = torch.tensor([[START], [START]])
    greedy = lm.generate(x, do_sample=False, max_new_tokens=12, eos_token_id=None)[:, 1:].tolist()
    out = magic_decode(lm, tok, clip, ctok, image_embeds=img[:2], k=5, alpha=0.0, beta=0.0, max_new_tokens=12)
    assert out.token_ids == greedy


@torch.no_grad()
def contrastive_search(lm, prompt, steps, k, alpha):
    """Plain contrastive search (Su et al. 2022), cache-less: (1-a) p(v) - a max cos(h_v, h_<t)."""
    ids = list(prompt)
    for _ in range(steps):
        out = lm(torch.tensor([ids]), output_hidden_states=True)
        probs, ctx = out.logits[0, -1].softmax(-1), out.hidden_states[-1][0]
        ctx = ctx / ctx.norm(dim=-1, keepdim=True)
        top = probs.topk(k).indices.tolist()
        hs = torch.stack([lm(torch.tensor([ids + [v]]), output_hidden_states=True).hidden_states[-1][0, -1]
                          for v in top])
        hs = hs / hs.norm(dim=-1, keepdim=True)
        score = (1 - alpha) * probs[top] - alpha * (hs @ ctx.T).max(-1).values
        ids.append(top[int(score.argmax())])
    return ids[len(prompt):]


@pytest.mark.parametrize("candidates", ["tree", "expand"])
def test_beta_0_is_contrastive_search(models, tok, candidates):
    lm = models[0]
    prompts = ["The dog", "<-start_of_text->"]
    ids = [tok(p)["input_ids"] for p in prompts]
    out = magic_search(lm, torch.tensor([ids[0]]), steps=10, k=6, alpha=0.6, beta=0.0, candidates=candidates)
    assert out[0].tolist() == contrastive_search(lm, ids[0], 10, 6, 0.6)
    # no CLIP argument is needed when beta == 0
    res = magic_decode(lm, tok, models[1], models[3], image_embeds=torch.randn(2, 32, dtype=torch.float64),
                       prompts=prompts, k=6, alpha=0.6, beta=0.0, max_new_tokens=10, candidates=candidates)
    assert res.token_ids == [contrastive_search(lm, i, 10, 6, 0.6) for i in ids]


@pytest.mark.parametrize("candidates", ["tree", "expand"])
def test_batched_equals_one_at_a_time(models, tok, img, candidates):
    lm, clip, _, ctok = models
    prompts = ["A picture of", "<-start_of_text->", "Some words here and there, many of them"]
    kw = dict(k=10, alpha=0.1, beta=2.0, max_new_tokens=12, candidates=candidates)
    both = magic_decode(lm, tok, clip, ctok, image_embeds=img, prompts=prompts, **kw)
    alone = [magic_decode(lm, tok, clip, ctok, image_embeds=img[i:i + 1], prompts=[prompts[i]], **kw)
             for i in range(3)]
    assert both.token_ids == [a.token_ids[0] for a in alone]
    assert both.captions == [a.captions[0] for a in alone]
    check_every_step(models, tok, img, both.token_ids, [tok(p)["input_ids"] for p in prompts], 10, 0.1, 2.0)


@pytest.mark.parametrize("alpha", [0.1, 0.0])
def test_eager_attention_gives_the_same_tokens(models, tok, img, alpha):
    lm, clip, _, ctok = models
    eager = random_lm(tok, dtype=torch.float64, seed=0, attn="eager")
    prompts = ["A picture of", "<-start_of_text->", "Some words here and there"]
    kw = dict(image_embeds=img, prompts=prompts, k=7, alpha=alpha, max_new_tokens=8)
    assert (magic_decode(eager, tok, clip, ctok, **kw).token_ids
            == magic_decode(lm, tok, clip, ctok, **kw).token_ids)


def test_images_are_embedded_once_and_match_embeddings(models, tok, img):
    lm, clip, preprocess, ctok = models
    calls = []
    real = clip.encode_image
    clip.encode_image = lambda x: calls.append(len(x)) or real(x)
    try:
        a = magic_decode(lm, tok, clip, ctok, images=pictures(3), preprocess=preprocess, k=6, decoding_len=8)
    finally:
        del clip.encode_image
    assert calls == [3]
    assert a.token_ids == magic_decode(lm, tok, clip, ctok, image_embeds=img, k=6, decoding_len=8).token_ids


def test_float32_tree_and_expand_agree(tok):
    lm = random_lm(tok, seed=1)
    clip, _, ctok = random_clip("tiny", seed=1)
    img = torch.nn.functional.normalize(torch.randn(4, 32), dim=-1)
    stats = {}
    a = magic_decode(lm, tok, clip, ctok, image_embeds=img, k=12, stats=stats)
    b = magic_decode(lm, tok, clip, ctok, image_embeds=img, k=12, candidates="expand", share_clip_prefix=False)
    assert a.token_ids == b.token_ids
    assert stats["candidates"] == "tree" and stats["lm_text"] == "bytes" and stats["clip_shared"]
    assert stats["head"] is True
    # the prefix-sharing CLIP encoder ran far fewer text positions than 77 per candidate
    assert stats["clip_positions"] < 4 * 15 * 12 * 77 / 10


def test_custom_generate(models, tok, img):
    lm, clip, _, ctok = models
    x = tok(["A picture of"], return_tensors="pt")
    seq = lm.generate(**x, custom_generate=magic_generate, clip_model=clip, clip_tokenizer=ctok, lm_tokenizer=tok,
                      image_embeds=img[:1], k=10, max_new_tokens=12)
    ref = magic_decode(lm, tok, clip, ctok, image_embeds=img[:1], prompts=["A picture of"], k=10,
                       max_new_tokens=12)
    assert seq[0, x["input_ids"].shape[1]:].tolist() == ref.token_ids[0]
    # max_length counts the prompt, like decoding_len; images instead of embeddings; dict output
    x = torch.tensor([[START]] * 3)
    res = lm.generate(x, custom_generate=magic_generate, clip_model=clip, clip_tokenizer=ctok, lm_tokenizer=tok,
                      images=pictures(3), clip_preprocess=models[2], k=8, max_length=10,
                      return_dict_in_generate=True)
    ref = magic_decode(lm, tok, clip, ctok, image_embeds=img, k=8, decoding_len=10)
    assert res.sequences[:, 1:].tolist() == ref.token_ids


def test_processor_alpha_0_equals_the_full_decode(models, tok, img):
    lm, clip, _, ctok = models
    proc = MagicLogitsProcessor(clip, ctok, tok, image_embeds=img, k=10, alpha=0.0, beta=2.0)
    x = torch.tensor([[START]] * 3)
    ref = magic_decode(lm, tok, clip, ctok, image_embeds=img, k=10, alpha=0.0, max_new_tokens=12).token_ids
    for _ in range(2):  # the processor notices the second generate call by itself
        g = lm.generate(x, logits_processor=[proc], max_new_tokens=12, do_sample=False, eos_token_id=None)
        assert g[:, 1:].tolist() == ref


def test_processor_leaves_out_only_the_degeneration_penalty(models, tok, img):
    lm, clip, _, ctok = models
    proc = MagicLogitsProcessor(clip, ctok, tok, image_embeds=img[:2], k=8, alpha=0.3, beta=2.0)
    x = torch.tensor([[START]] * 2)
    g = lm.generate(x, logits_processor=[proc], max_new_tokens=8, do_sample=False, eos_token_id=None)
    gen = g[:, 1:].tolist()
    for r in range(2):
        for t in range(8):
            # (1 - alpha) p + beta f: the reference step with the penalty switched off and p scaled
            ids = [START] + gen[r][:t]
            with torch.no_grad():
                logits = lm(torch.tensor([ids])).logits[0, -1]
                probs = logits.softmax(-1)
                top = logits.topk(8).indices.tolist()
                texts = [tok.decode(gen[r][:t] + [v]) for v in top]
                emb = clip.encode_text(ctok(texts))
                emb = emb / emb.norm(dim=-1, keepdim=True)
                f = (clip.logit_scale.exp() * (emb @ img[r].double())).softmax(0)
                score = 0.7 * probs[top] + 2.0 * f
            assert gen[r][t] == top[int(score.argmax())]


def test_processor_with_several_sequences_per_image(models, tok, img):
    lm, clip, _, ctok = models
    proc = MagicLogitsProcessor(clip, ctok, tok, image_embeds=img[:2], k=6, alpha=0.0, beta=2.0)
    # generate's expansion for several sequences per prompt repeats each row in place (repeat_interleave)
    g = lm.generate(torch.tensor([[START]] * 4), logits_processor=[proc], max_new_tokens=6, do_sample=False,
                    eos_token_id=None)
    ref = magic_decode(lm, tok, clip, ctok, image_embeds=img[:2], k=6, alpha=0.0, max_new_tokens=6).token_ids
    assert g[:, 1:].tolist() == [ref[0], ref[0], ref[1], ref[1]]


class EosAfter:
    """A logits processor that makes end-of-text the clear favourite of row r from step s_r on."""

    def __init__(self, eos, prompt_len, starts):
        self.eos, self.prompt_len, self.starts = eos, prompt_len, starts

    def __call__(self, ids, scores):
        t = ids.shape[1] - self.prompt_len
        for r, s in enumerate(self.starts):
            if t >= s:
                scores[r, self.eos] = scores[r].max() + 50
        return scores


def test_caption_is_cut_at_end_of_text_and_stop_at_eos_changes_nothing(models, tok, img):
    lm, clip, _, ctok = models
    ids = torch.tensor([[START]] * 3)
    kw = dict(clip_model=clip, clip_tokenizer=ctok, lm_tokenizer=tok, image_embeds=img, steps=12, k=6, beta=0.2,
              eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    full = magic_search(lm, ids, logits_processor=EosAfter(tok.eos_token_id, 1, [3, 5, 100]), **kw).tolist()
    stop = magic_search(lm, ids, logits_processor=EosAfter(tok.eos_token_id, 1, [3, 5, 100]), stop_at_eos=True,
                        **kw).tolist()
    assert full[0][3] == tok.eos_token_id and full[1][5] == tok.eos_token_id
    for a, b in zip(full, stop):
        cut = a.index(tok.eos_token_id) + 1 if tok.eos_token_id in a else len(a)
        assert a[:cut] == b[:cut]
    from socratic.magic import parse_caption

    text = parse_caption(tok, full[0], [START], tok.eos_token_id)
    assert text == " ".join(tok.decode(full[0][:3]).split())
    assert parse_caption(tok, tok(" a  man<-start_of_text-> on<|endoftext|> x")["input_ids"], [START],
                         tok.eos_token_id) == "a man on"


# ---- work skipped or done faster, same tokens ------------------------------------------------------

@pytest.fixture(scope="module")
def sharp_clip(models):
    """The tiny CLIP with a logit scale of 1000: the image term picks one candidate clearly, as real CLIPs
    often do, so most candidates provably lose before their LM pass."""
    import copy

    clip = copy.deepcopy(models[1])
    clip.logit_scale.data.fill_(math.log(1000.0))
    return clip


@pytest.mark.parametrize("candidates", ["tree", "expand"])
def test_losers_skip_the_lm_pass_and_tokens_match_the_formula(models, tok, img, sharp_clip, candidates):
    lm, _, _, ctok = models
    prompts = ["A picture of", "<-start_of_text->", "Some words here and there"]
    kw = dict(image_embeds=img, prompts=prompts, k=10, alpha=0.1, beta=2.0, max_new_tokens=10,
              candidates=candidates)
    stats, every = {}, {}
    skip = magic_decode(lm, tok, sharp_clip, ctok, skip_losers=True, stats=stats, **kw)
    full = magic_decode(lm, tok, sharp_clip, ctok, skip_losers=False, stats=every, **kw)
    assert skip.token_ids == full.token_ids
    assert every["lm_positions"] == 10 * 10
    assert stats["lm_positions"] < every["lm_positions"] / 2  # most candidates were out of reach
    check_every_step((lm, sharp_clip, None, ctok), tok, img, skip.token_ids, [tok(p)["input_ids"] for p in prompts],
                     10, 0.1, 2.0)
    alone = [magic_decode(lm, tok, sharp_clip, ctok, skip_losers=True, **{**kw, "image_embeds": img[i:i + 1],
                                                                         "prompts": [prompts[i]]})
             for i in range(3)]
    assert skip.token_ids == [a.token_ids[0] for a in alone]


def test_contrastive_search_skips_losers_too(models, tok):
    import copy

    lm = copy.deepcopy(models[0])
    with torch.no_grad():  # sharper next-token probabilities; hidden-state cosines are unchanged by the scale
        lm.transformer.ln_f.weight.mul_(40.0)
        lm.transformer.ln_f.bias.mul_(40.0)
    ids = tok("The dog")["input_ids"]
    stats = {}
    out = magic_search(lm, torch.tensor([ids]), steps=10, k=6, alpha=0.2, beta=0.0, skip_losers=True, stats=stats)
    assert out[0].tolist() == contrastive_search(lm, ids, 10, 6, 0.2)
    assert stats["lm_positions"] < 10 * 6 and stats["candidates"] == "tree"


def test_float32_own_pass_and_packed_matmuls_match_the_formula(tok):
    lm = random_lm(tok, seed=2)
    clip, _, ctok = random_clip("tiny", seed=2)
    img = torch.nn.functional.normalize(torch.randn(3, 32, generator=torch.Generator().manual_seed(2)), dim=-1)
    prompts = ["A picture of", "<-start_of_text->", "Some words here"]
    stats = {}
    fast = magic_decode(lm, tok, clip, ctok, image_embeds=img, prompts=prompts, k=8, max_new_tokens=10, stats=stats,
                        packed_matmuls=True)
    stock = magic_decode(lm, tok, clip, ctok, image_embeds=img, prompts=prompts, k=8, max_new_tokens=10,
                         packed_matmuls=False, candidates="expand", share_clip_prefix=False)
    assert fast.token_ids == stock.token_ids
    assert stats["lm_pass"] == "own"
    from socratic.magic.packed_linear import onednn_available

    assert stats["packed"] == onednn_available()
    check_every_step((lm, clip, None, ctok), tok, img, fast.token_ids, [tok(p)["input_ids"] for p in prompts],
                     8, 0.1, 2.0)


# ---- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,field", [
    (dict(k=0), "k"), (dict(k=-3), "k"), (dict(k=60000), "k"), (dict(k=2.5), "k"), (dict(alpha=1.5), "alpha"),
    (dict(beta=-1.0), "beta"), (dict(alpha=float("nan")), "alpha"), (dict(decoding_len=1), "decoding_len"),
    (dict(prompts=["a", "b"]), "prompt"), (dict(candidates="beam"), "candidates"),
    (dict(skip_losers="yes"), "skip_losers"), (dict(packed_matmuls=None), "packed_matmuls"),
])
def test_bad_arguments_raise_socratic_error(models, tok, img, kw, field):
    lm, clip, _, ctok = models
    args = dict(image_embeds=img, k=5, decoding_len=6)
    args.update(kw)
    with pytest.raises(SocraticError) as e:
        magic_decode(lm, tok, clip, ctok, **args)
    assert e.value.field == field


def test_empty_images_raise(models, tok):
    lm, clip, pre, ctok = models
    with pytest.raises(SocraticError, match="empty"):
        magic_decode(lm, tok, clip, ctok, images=[], preprocess=pre)
    with pytest.raises(SocraticError, match="empty"):
        magic_decode(lm, tok, clip, ctok, image_embeds=torch.zeros(0, 32))
    with pytest.raises(SocraticError, match="empty|no images"):
        MagicLogitsProcessor(clip, ctok, tok, images=[], preprocess=pre)


def test_clip_on_another_device_raises(models, tok, img):
    lm, _, _, ctok = models
    meta_clip = random_clip("tiny")[0].to("meta")
    with pytest.raises(SocraticError, match="same device"):
        magic_decode(lm, tok, meta_clip, ctok, image_embeds=img)


def test_tokenizer_without_pad_token(models, tok, img):
    import copy

    lm, clip, _, ctok = models
    no_pad = copy.deepcopy(tok)
    no_pad.pad_token = None
    assert no_pad.pad_token_id is None
    prompts = ["A picture of", "<-start_of_text->"]
    # documented fix: prompts are padded with the end-of-text id (masked out), same result
    a = magic_decode(lm, no_pad, clip, ctok, image_embeds=img[:2], prompts=prompts, k=5, max_new_tokens=5)
    b = magic_decode(lm, tok, clip, ctok, image_embeds=img[:2], prompts=prompts, k=5, max_new_tokens=5)
    assert a.token_ids == b.token_ids
    no_pad.eos_token = None
    with pytest.raises(SocraticError, match="pad"):
        magic_decode(lm, no_pad, clip, ctok, image_embeds=img[:2], prompts=prompts, k=5, max_new_tokens=5)


def test_processor_bad_rows_and_k(models, tok, img):
    lm, clip, _, ctok = models
    proc = MagicLogitsProcessor(clip, ctok, tok, image_embeds=img[:2], k=5)
    with pytest.raises(SocraticError, match="images"):
        proc(torch.tensor([[START]] * 3), torch.randn(3, 50259))
    with pytest.raises(SocraticError, match="vocabulary"):
        MagicLogitsProcessor(clip, ctok, tok, image_embeds=img[:2], k=100)(torch.tensor([[START]] * 2),
                                                                           torch.randn(2, 50))
    with pytest.raises(SocraticError):
        MagicLogitsProcessor(clip, ctok, tok, image_embeds=img[:2], k=0)


# ---- CUDA ------------------------------------------------------------------------------------------

@pytest.mark.cuda
def test_cuda_matches_cpu_and_batches(models, tok, img):
    lm, clip, _, ctok = models
    dev = torch.device("cuda")
    lm_c, clip_c = lm.to(dev), clip.to(dev)
    try:
        prompts = ["A picture of", "<-start_of_text->", "Some words"]
        kw = dict(k=10, max_new_tokens=10, prompts=prompts)
        gpu = magic_decode(lm_c, tok, clip_c, ctok, image_embeds=img.to(dev), **kw)
        alone = [magic_decode(lm_c, tok, clip_c, ctok, image_embeds=img[i:i + 1].to(dev), k=10, max_new_tokens=10,
                              prompts=[prompts[i]]).token_ids[0] for i in range(3)]
        assert gpu.token_ids == alone
    finally:
        lm.to("cpu"), clip.to("cpu")
    cpu = magic_decode(lm, tok, clip, ctok, image_embeds=img, **kw)
    assert gpu.token_ids == cpu.token_ids


@pytest.mark.cuda
def test_cuda_float16_runs_and_processor(tok):
    dev = torch.device("cuda")
    lm = random_lm(tok, seed=2, dtype=torch.float16).to(dev)
    clip, _, ctok = random_clip("tiny", seed=2, dtype=torch.float16)
    clip = clip.to(dev)
    img = torch.nn.functional.normalize(torch.randn(4, 32, device=dev), dim=-1)
    out = magic_decode(lm, tok, clip, ctok, image_embeds=img, k=12)
    assert len(out.token_ids) == 4 and all(len(t) == 15 for t in out.token_ids)
    proc = MagicLogitsProcessor(clip, ctok, tok, image_embeds=img, k=12, alpha=0.0)
    g = lm.generate(torch.tensor([[START]] * 4, device=dev), logits_processor=[proc], max_new_tokens=6,
                    do_sample=False, eos_token_id=None)
    assert g.shape == (4, 7)
