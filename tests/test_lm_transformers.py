"""The transformers LM backend against straightforward reference computations on a tiny random Llama."""

import time

import pytest
import torch

from socratic.errors import SocraticError
from socratic.models.base import Completion
from socratic.models.lm_transformers import TransformersLM, converted_gguf
from socratic.models.loader import ModelSpec, clear_pool, load_model
from socratic.models.packaged import packaged_sha256, resolve_packaged
from socratic.paths import cache_dir

WORDS = ("the a cat dog sat ran on under mat log red blue big small and then quickly slowly it was is "
         "user bot hi <unk>").split()
PROMPTS = ["the cat sat on the", "a dog", "then the big red dog ran quickly under a small blue log and",
           "it", "the mat was"]


def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<eos>", *WORDS])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A 2-layer Llama with a word-level tokenizer, saved as a model directory."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = word_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      initializer_range=0.3, eos_token_id=0, bos_token_id=None, pad_token_id=None,
                      tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    d = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


def load_tiny(tiny_dir, **opts) -> TransformersLM:
    return TransformersLM.from_spec(ModelSpec("tiny", "lm", "transformers",
                                              {"path": str(tiny_dir), "device": "cpu", **opts}))


@pytest.fixture(scope="module")
def lm(tiny_dir):
    return load_tiny(tiny_dir, batch_size=3)


def ids_of(lm, text):
    return lm.tokenizer(text, add_special_tokens=False)["input_ids"]


def manual_greedy(lm, prompt, steps, eos=None):
    """Argmax decoding one token at a time: no KV cache, no padding."""
    eos = lm.eos_ids if eos is None else eos
    ids, out, lps = ids_of(lm, prompt), [], []
    with torch.no_grad():
        for _ in range(steps):
            logits = lm.model(torch.tensor([ids])).logits[0, -1].float()
            t = int(logits.argmax())
            if t in eos:
                break
            out.append(t)
            lps.append(float(logits.log_softmax(-1)[t]))
            ids.append(t)
    return out, lps


def manual_score(lm, prompt, cont):
    p, c = ids_of(lm, prompt), ids_of(lm, cont)
    with torch.no_grad():
        logp = lm.model(torch.tensor([p + c])).logits[0].float().log_softmax(-1)
    return [float(logp[len(p) - 1 + k, t]) for k, t in enumerate(c)]


def test_loads_from_dir_with_pad_and_identity(lm, tiny_dir):
    assert lm.tokenizer.pad_token == "<eos>" and lm.tokenizer.padding_side == "left"
    assert lm.model_id == tiny_dir.name and lm.fingerprint.startswith("path:")
    assert lm.eos_ids == {0}


def test_greedy_equals_manual_argmax_loop(lm):
    outs = lm.generate(PROMPTS, max_new_tokens=10, logprobs=True)
    generated = 0
    for prompt, (c,) in zip(PROMPTS, outs):
        ref, ref_lp = manual_greedy(lm, prompt, 10)
        generated += len(ref)
        assert c.tokens == [lm.tokenizer.decode([t]) for t in ref]
        assert c.text == lm.tokenizer.decode(ref, skip_special_tokens=True)
        assert c.token_logprobs == pytest.approx(ref_lp, abs=1e-4)
        assert c.logprob == pytest.approx(sum(ref_lp), abs=1e-3)
    assert generated > 10  # the model does produce text


def test_batched_equals_one_at_a_time(lm, tiny_dir):
    single = load_tiny(tiny_dir, batch_size=1)
    a = lm.generate(PROMPTS, max_new_tokens=8)
    b = single.generate(PROMPTS, max_new_tokens=8)
    assert [c[0].tokens for c in a] == [c[0].tokens for c in b]
    for x, y in zip(a, b):
        assert x[0].token_logprobs == pytest.approx(y[0].token_logprobs, abs=1e-5)
    conts = ["dog ran", "sat", "on the mat and then it was big", "red", "a"]
    sa, sb = lm.score(PROMPTS, conts), single.score(PROMPTS, conts)
    for x, y in zip(sa, sb):
        assert x == pytest.approx(y, abs=1e-5)


def test_left_padding_with_absolute_positions(tmp_path):
    """GPT-2 adds absolute position embeddings: padded rows need their own position ids."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = word_tokenizer()
    torch.manual_seed(1)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                       eos_token_id=0, bos_token_id=0, initializer_range=0.3))
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    gpt = load_tiny(tmp_path, batch_size=8)
    for prompt, (c,) in zip(PROMPTS, gpt.generate(PROMPTS, max_new_tokens=6)):
        ref, ref_lp = manual_greedy(gpt, prompt, 6)
        assert c.tokens == [gpt.tokenizer.decode([t]) for t in ref]
        assert c.token_logprobs == pytest.approx(ref_lp, abs=1e-4)
    conts = ["dog ran", "sat", "on the mat", "red", "a big log"]
    for p, c, g in zip(PROMPTS, conts, gpt.score(PROMPTS, conts)):
        assert g == pytest.approx(manual_score(gpt, p, c), abs=1e-4)


def test_n_greedy_copies(lm):
    (cs,) = lm.generate(PROMPTS[:1], max_new_tokens=5, n=3)
    assert len(cs) == 3 and all(c.text == cs[0].text for c in cs) and cs[0] is not cs[1]


def test_score_equals_manual(lm):
    conts = ["dog ran", "sat on the mat", "it", "quickly and slowly", "red"]
    got = lm.score(PROMPTS, conts)
    for p, c, g in zip(PROMPTS, conts, got):
        assert len(g) == len(ids_of(lm, c))
        assert g == pytest.approx(manual_score(lm, p, c), abs=1e-4)
    assert lm.score(["the"], [""]) == [[]]


@pytest.mark.parametrize("batch_size", [2, 8])
def test_options_of_one_prompt_share_its_prefill_and_score_as_alone(tiny_dir, batch_size):
    """Several continuations of one prompt (multiple-choice options, ratings "1"/"2"/"3") are scored from one
    run of the prompt; the numbers equal scoring each pair alone without a cache."""
    lm = load_tiny(tiny_dir, batch_size=batch_size)
    options = ["dog ran", "sat on the mat", "it", "quickly and slowly", "red"]
    ratings = ["dog", "cat", "red"]  # one token each
    prompts = [PROMPTS[0]] * 5 + [PROMPTS[1]] * 3 + [PROMPTS[2]] * 3 + [PROMPTS[3]]
    conts = options + ratings + ratings + ["sat"]
    got = lm.score(prompts, conts)
    for p, c, g in zip(prompts, conts, got):
        assert len(g) == len(ids_of(lm, c))
        assert g == pytest.approx(manual_score(lm, p, c), abs=1e-4)


def test_sampling_reproducible_and_raw_logprobs(lm, tiny_dir):
    kw = dict(max_new_tokens=8, temperature=1.5, top_p=0.95, n=4, seed=11)
    a = lm.generate(PROMPTS[:3], **kw)
    b = lm.generate(PROMPTS[:3], **kw)
    assert [[c.text for c in cs] for cs in a] == [[c.text for c in cs] for cs in b]
    assert all(len({c.text for c in cs}) > 1 for cs in a)  # the n samples differ
    other = lm.generate(PROMPTS[:3], **{**kw, "seed": 12})
    assert [[c.text for c in cs] for cs in other] != [[c.text for c in cs] for cs in a]
    # independent of batch size and of the other prompts in the call
    solo = load_tiny(tiny_dir, batch_size=1).generate(PROMPTS[1:2], **kw)
    assert [c.text for c in solo[0]] == [c.text for c in a[1]]
    # log-probs are of the untempered distribution: rescoring the sampled text gives the same numbers
    for p, cs in zip(PROMPTS, a):
        for c in cs:
            if c.text:
                assert c.token_logprobs == pytest.approx(manual_score(lm, p, c.text), abs=1e-4)


def test_tiny_top_p_is_greedy(lm):
    greedy = lm.generate(PROMPTS, max_new_tokens=6)
    nucleus = lm.generate(PROMPTS, max_new_tokens=6, temperature=1.0, top_p=1e-6, seed=3)
    assert [c[0].text for c in greedy] == [c[0].text for c in nucleus]


def test_nucleus_top_k_shortcut_equals_full_sort():
    from socratic.models.lm_transformers import nucleus

    def full(probs, top_p):
        sp, si = probs.sort(-1, descending=True)
        return torch.zeros_like(probs).scatter(-1, si, sp * ((sp.cumsum(-1) - sp) < top_p))

    g = torch.Generator().manual_seed(0)
    for scale in (0.5, 3.0, 12.0):  # flat (falls back to the sort) to peaked (the top k hold top_p)
        probs = (torch.randn(6, 5000, generator=g) * scale).softmax(-1)
        for top_p in (1e-6, 0.5, 0.9, 0.95):
            assert torch.equal(nucleus(probs, top_p, k=64), full(probs, top_p))


def test_stop_cuts_text_and_tokens(lm):
    prompt = PROMPTS[0]
    ref, ref_lp = manual_greedy(lm, prompt, 12)
    words = [lm.tokenizer.decode([t]) for t in ref]
    assert len(words) >= 4
    k = next(i for i in range(2, len(words)) if words[i] not in words[:i])  # first fresh word from index 2
    # a stop string inside token k: the text keeps the part before it, tokens/log-probs stop before token k
    stop = words[k][1:] or words[k]
    (c,) = lm.generate([prompt], max_new_tokens=12, stop=[stop, "never-there"])[0]
    full = lm.tokenizer.decode(ref)
    assert c.text == full[:full.find(stop)] and stop not in c.text
    assert c.tokens == words[:k] and c.token_logprobs == pytest.approx(ref_lp[:k], abs=1e-4)
    # a stop string never produced changes nothing
    (d,) = lm.generate([prompt], max_new_tokens=12, stop=["never-there"])[0]
    assert d.tokens == words


def test_stops_at_eos(lm):
    ref, _ = manual_greedy(lm, PROMPTS[2], 10)
    eos = ref[2]
    saved = lm.eos_ids
    try:
        lm.eos_ids = {eos}
        (c,) = lm.generate([PROMPTS[2]], max_new_tokens=10)[0]
    finally:
        lm.eos_ids = saved
    assert c.tokens == [lm.tokenizer.decode([t]) for t in ref[:ref.index(eos)]]


def test_lm_generate_says_when_every_completion_is_empty(tiny_dir, lm):
    from socratic import Pipeline

    ref, _ = manual_greedy(lm, PROMPTS[0], 4)
    p = Pipeline("gen").add_model("lm", "lm", "transformers", path=str(tiny_dir), device="cpu")
    p.add_input("q", "text")
    p.add_node("gen", "lm_generate", params={"lm": "lm", "max_new_tokens": 4}, inputs={"prompt": "inputs.q"})
    p.add_output("a", "gen.text")
    plain = p.run(q=PROMPTS[0], cache=False)
    assert plain["a"] == lm.tokenizer.decode(ref).strip() != ""
    assert not any("empty completions" in w for w in plain.warnings)
    # a stop string met by the first token (as PICa's newline stop can be): nothing is left
    p.nodes["gen"].params["stop"] = [lm.tokenizer.decode(ref[:1])]
    cut = p.run(q=PROMPTS[0], cache=False)
    assert cut["a"] == ""
    assert any(w.startswith("node 'gen': lm '") and "empty completions for 1 of 1 prompt" in w
               for w in cut.warnings)


def test_chat_template_applied(tiny_dir):
    with pytest.raises(SocraticError, match="no chat template"):  # the tiny tokenizer has none
        load_tiny(tiny_dir, chat=True)
    base = load_tiny(tiny_dir)
    base.tokenizer.chat_template = ("{% for m in messages %}user {{ m['content'] }} {% endfor %}"
                                    "{% if add_generation_prompt %}bot{% endif %}")
    chat = TransformersLM(base.model, base.tokenizer, model_id="t", fingerprint="t", device=torch.device("cpu"),
                          chat=True)
    assert chat.encode_prompt("the cat") == ids_of(base, "user the cat bot")
    assert base.encode_prompt("the cat") == ids_of(base, "the cat")


def test_shared_prefill_draws_the_batched_samples(tiny_dir):
    """One prefill repeated to n rows gives the same samples and log-probs as n separate prefills."""
    kw = dict(max_new_tokens=8, temperature=1.2, top_p=0.9, n=5, seed=7, logprobs=True)
    shared = load_tiny(tiny_dir, batch_size=10)
    rowwise = load_tiny(tiny_dir, batch_size=10, shared_prefill=False)
    assert shared.shared_prefill and not rowwise.shared_prefill
    a, b = shared.generate(PROMPTS, **kw), rowwise.generate(PROMPTS, **kw)
    assert [[c.tokens for c in cs] for cs in a] == [[c.tokens for c in cs] for cs in b]
    for x, y in zip(a, b):
        for c, d in zip(x, y):
            assert c.token_logprobs == pytest.approx(d.token_logprobs, abs=1e-4)
    assert all(len({c.text for c in cs}) > 1 for cs in a)
    # a batch smaller than n still shares one prefill per prompt
    small = load_tiny(tiny_dir, batch_size=2).generate(PROMPTS, **kw)
    assert [[c.tokens for c in cs] for cs in small] == [[c.tokens for c in cs] for cs in a]


def test_context_length_count_tokens_and_instruct(lm, tiny_dir):
    assert lm.context_length == 64
    for p in PROMPTS:
        assert lm.count_tokens(p) == len(ids_of(lm, p)) == len(lm.encode_prompt(p))
    assert lm.count_tokens("the " * 100) == 100  # counting never raises; generating does
    assert not lm.instruct and not lm.chat  # no chat template, no instruct name
    assert load_tiny(tiny_dir, instruct=True).instruct


def test_bad_input_is_socratic_error(lm, tiny_dir, tmp_path):
    with pytest.raises(SocraticError, match="bad decoding"):
        lm.generate(["the"], n=0)
    with pytest.raises(SocraticError, match="2 prompts but 1"):
        lm.score(["a", "b"], ["c"])
    with pytest.raises(SocraticError, match="empty prompt"):
        lm.generate([""])
    with pytest.raises(SocraticError, match="at most 64"):
        lm.generate(["the " * 70])
    with pytest.raises(SocraticError, match="unknown option 'temprature'"):
        load_tiny(tiny_dir, temprature=0)
    bogus = tmp_path / "weights.bin"
    bogus.write_bytes(b"x")
    with pytest.raises(SocraticError, match="not a .gguf"):
        TransformersLM.from_spec(ModelSpec("m", "lm", "transformers", {"path": str(bogus)}))


def test_long_generation_capped_by_context(lm):
    (c,) = lm.generate(["the " * 60], max_new_tokens=50)[0]
    assert len(c.tokens) <= 4


# ---- the real packaged SmolLM2 ------------------------------------------------------------------------

SMOL = {"family": "lm", "backend": "transformers", "packaged": "smollm2-135m-instruct", "device": "cpu"}


@pytest.fixture(scope="module")
def smol():
    clear_pool()
    t0 = time.perf_counter()
    model = load_model(ModelSpec.from_dict("lm", SMOL))
    print(f"\nSmolLM2 load: {time.perf_counter() - t0:.1f}s")
    return model


@pytest.mark.slow
def test_packaged_smollm2_generates_and_caches_conversion(smol):
    sha = packaged_sha256("smollm2-135m-instruct")
    assert smol.model_id == "smollm2-135m-instruct" and sha in smol.fingerprint
    (c,) = smol.generate(["The capital of France is"], max_new_tokens=8)[0]
    assert c.text.strip() and len(c.tokens) == len(c.token_logprobs) > 0
    assert all(lp <= 0 for lp in c.token_logprobs)
    marker = cache_dir("models") / sha / "CONVERTED"
    assert marker.is_file()
    before = marker.stat().st_mtime_ns
    again = converted_gguf(resolve_packaged("smollm2-135m-instruct"))
    assert again == marker.parent and marker.stat().st_mtime_ns == before
    clear_pool()
    t0 = time.perf_counter()
    second = load_model(ModelSpec.from_dict("lm", SMOL))
    print(f"SmolLM2 cached load: {time.perf_counter() - t0:.1f}s")
    assert marker.stat().st_mtime_ns == before
    assert not [p for p in marker.parent.parent.iterdir() if p.name.startswith(f".{sha[:12]}.")]
    (c2,) = second.generate(["The capital of France is"], max_new_tokens=8)[0]
    assert c2.text == c.text


@pytest.mark.slow
def test_packaged_smollm2_newline_stop_like_pica(smol):
    prompt = "Q: What color is the sky?\nA: blue\nQ: What color is grass?\nA: green\nQ: What do cows drink?\nA:"
    (full,) = smol.generate([prompt], max_new_tokens=12)[0]
    (cut,) = smol.generate([prompt], max_new_tokens=12, stop=["\n"], logprobs=True)[0]
    assert "\n" not in cut.text and cut.text.strip()
    nl = next(i for i, t in enumerate(full.tokens) if "\n" in t)  # first token holding the newline
    assert cut.tokens == full.tokens[:nl]
    assert cut.logprob == pytest.approx(sum(full.token_logprobs[:nl]), abs=1e-4)
    # scoring the answer reproduces the generated log-probs when it tokenises the same way
    if smol.tokenizer(cut.text, add_special_tokens=False)["input_ids"] == smol.tokenizer(
            "".join(cut.tokens), add_special_tokens=False)["input_ids"]:
        assert smol.score([prompt], [cut.text])[0] == pytest.approx(cut.token_logprobs, abs=1e-3)


@pytest.mark.slow
def test_packaged_smollm2_chat(smol):
    chat = load_model(ModelSpec.from_dict("lm", {**SMOL, "chat": True}))
    assert "<|im_start|>" in chat.tokenizer.decode(chat.encode_prompt("What is 2+2?"))
    (c,) = chat.generate(["What is 2+2?"], max_new_tokens=10)[0]
    assert isinstance(c, Completion) and c.text.strip()


@pytest.mark.cuda
def test_cuda_matches_cpu(lm, tiny_dir):
    gpu = load_tiny(tiny_dir, device="cuda", dtype="float32")
    assert gpu.device.type == "cuda" and load_tiny(tiny_dir, device="cuda").model.dtype == torch.float16
    a, b = lm.generate(PROMPTS, max_new_tokens=6), gpu.generate(PROMPTS, max_new_tokens=6)
    assert [c[0].tokens for c in a] == [c[0].tokens for c in b]
    s = gpu.generate(PROMPTS[:2], max_new_tokens=6, temperature=1.0, n=2, seed=4)
    assert s == gpu.generate(PROMPTS[:2], max_new_tokens=6, temperature=1.0, n=2, seed=4)
