"""Chat on/off/auto through every LM backend on the packaged SmolLM2-135M-Instruct (transformers, llama.cpp in
process, the openai backend against a llama.cpp server on loopback), and lm_generate's `chat` param."""

import pytest
import torch

from socratic import Pipeline
from socratic.errors import SocraticError
from socratic.models.base import estimate_tokens, instruct_name
from socratic.models.lm_openai import OpenAILM
from socratic.models.loader import ModelSpec, load_model
from support.ego_prompts import activity_prompts, log_lines, summary_prompt
from support.llama_server import SERVER_MODEL_ALIAS

PACKAGED = "smollm2-135m-instruct"
TF = {"family": "lm", "backend": "transformers", "packaged": PACKAGED, "device": "cpu"}
LC = {"family": "lm", "backend": "llama_cpp", "packaged": PACKAGED, "n_threads": 1}
INSTRUCTION = activity_prompts(1, seed=7)[0]
SUMMARY = summary_prompt(log_lines(10, seed=5))


@pytest.fixture(scope="module")
def tf():
    torch.set_num_threads(1)
    return load_model(ModelSpec.from_dict("tf", TF))


@pytest.fixture(scope="module")
def lc():
    return load_model(ModelSpec.from_dict("lc", LC))


@pytest.fixture(scope="module")
def api(llama_server):
    return OpenAILM(model=SERVER_MODEL_ALIAS, base_url=llama_server, timeout=120, max_retries=1, context_length=2048)


def reference_chat_ids(tf, prompt):
    """The chat-wrapped ids as transformers' own apply_chat_template tokenises them."""
    out = tf.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=True,
                                           add_generation_prompt=True)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def test_instruct_names():
    assert instruct_name("smollm2-135m-instruct") and instruct_name("HuggingFaceTB/SmolLM2-1.7B-Instruct")
    assert instruct_name("google/gemma-2-2b-it") and instruct_name("Qwen/Qwen1.5-0.5B-Chat")
    assert not instruct_name("gpt2") and not instruct_name("meta/Llama-3-8B") and not instruct_name("tiny-llama")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["tf", "lc"])
def test_local_backends_wrap_count_and_answer(which, request):
    tf = request.getfixturevalue("tf")
    lm = request.getfixturevalue(which)
    assert lm.instruct and not lm.chat and lm.context_length == 8192
    for p in (INSTRUCTION, SUMMARY):
        wrapped, raw = lm.count_tokens(p, chat=True), lm.count_tokens(p, chat=False)
        assert wrapped == len(reference_chat_ids(tf, p)) and raw == len(tf.tokenizer(p)["input_ids"])
        assert wrapped - raw == lm.count_tokens("", chat=True) > 5  # the template's own tokens
    assert lm.count_tokens(INSTRUCTION) == lm.count_tokens(INSTRUCTION, chat=False)  # default: the spec's chat
    on = lm.generate([INSTRUCTION, SUMMARY], max_new_tokens=24, chat=True)
    off = lm.generate([INSTRUCTION, SUMMARY], max_new_tokens=24, chat=False)
    print(f"\n{which} chat: {[r[0].text for r in on]}\n{which} raw: {[r[0].text for r in off]}")
    assert all(r[0].text.strip() for r in on)  # the instruct model answers when prompted as it was trained
    assert [r[0].text for r in on] != [r[0].text for r in off]
    assert off[0][0].text.strip() == ""  # raw, it stops at once on the activity instruction (the defect)


@pytest.mark.slow
def test_spec_chat_is_the_default(tf):
    chatty = load_model(ModelSpec.from_dict("c", {**TF, "chat": True}))
    assert chatty.chat and chatty.count_tokens(INSTRUCTION) == tf.count_tokens(INSTRUCTION, chat=True)
    assert chatty.generate([INSTRUCTION], max_new_tokens=12)[0][0].text == tf.generate(
        [INSTRUCTION], max_new_tokens=12, chat=True)[0][0].text
    assert chatty.generate([INSTRUCTION], max_new_tokens=12, chat=False)[0][0].text == tf.generate(
        [INSTRUCTION], max_new_tokens=12)[0][0].text


@pytest.mark.slow
def test_openai_chat_endpoint_vs_completions(api, llama_server):
    assert api.context_length == 2048 and not api.chat and api.mode == "completions"
    assert not api.instruct  # the alias "smollm2" does not say instruct; `instruct: true` would
    on = api.generate([INSTRUCTION], max_new_tokens=16, chat=True)[0][0].text
    off = api.generate([INSTRUCTION], max_new_tokens=16, chat=False)[0][0].text
    assert on.strip() and on != off
    assert api.generate([INSTRUCTION], max_new_tokens=16)[0][0].text == off  # spec default: completions
    chat_mode = OpenAILM(model=SERVER_MODEL_ALIAS, base_url=llama_server, mode="chat")
    assert chat_mode.chat and chat_mode.generate([INSTRUCTION], max_new_tokens=16)[0][0].text == on
    with pytest.raises(SocraticError, match="chat mode cannot score"):
        api.score(["a"], ["b"], chat=True)
    assert OpenAILM(model="gpt2", base_url=llama_server).context_length is None
    assert not OpenAILM(model="gpt2", base_url=llama_server).instruct
    assert OpenAILM(model="gpt2", base_url=llama_server, instruct=True).instruct
    with pytest.raises(SocraticError, match="context_length must be a positive integer"):
        OpenAILM(model="m", base_url=llama_server, context_length="big")


@pytest.mark.slow
def test_openai_token_estimate_over_counts(api, tf):
    for p in (INSTRUCTION, SUMMARY, "[00:06–00:12] 12:30 3.14159 ünïcödé", "I 🍕 ate", "a b c d e f"):
        est, real = api.count_tokens(p), len(tf.tokenizer(p)["input_ids"])
        assert est == estimate_tokens(p) >= real
        print(f"\nestimate {est} for {real} real tokens")
        assert api.count_tokens(p, chat=True) == est + 48 >= len(reference_chat_ids(tf, p))


def generate_pipeline(chat=None, **spec):
    p = Pipeline("gen")
    p.add_model("lm", "lm", "transformers", **{k: v for k, v in {**TF, **spec}.items()
                                               if k not in ("family", "backend")})
    p.add_input("q", "text")
    params = {"lm": "lm", "max_new_tokens": 12}
    if chat is not None:
        params["chat"] = chat
    p.add_node("gen", "lm_generate", params=params, inputs={"prompt": "inputs.q"})
    p.add_output("a", "gen.text")
    return p


@pytest.mark.slow
def test_lm_generate_chat_param(tf):
    wrapped = tf.generate([INSTRUCTION], max_new_tokens=12, chat=True)[0][0].text.strip()
    raw = tf.generate([INSTRUCTION], max_new_tokens=12, chat=False)[0][0].text.strip()
    assert wrapped != raw
    assert generate_pipeline().run(q=INSTRUCTION, cache=False)["a"] == wrapped  # auto + instruct model
    assert generate_pipeline(True).run(q=INSTRUCTION, cache=False)["a"] == wrapped
    assert generate_pipeline(False).run(q=INSTRUCTION, cache=False)["a"] == raw
    # `instruct: false` in the spec: auto sends the prompt raw
    assert generate_pipeline(instruct=False).run(q=INSTRUCTION, cache=False)["a"] == raw


def test_lm_generate_bad_chat_value_is_a_validation_error(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("models:\n  lm: {family: lm, backend: transformers, packaged: smollm2-135m-instruct}\n"
                 "inputs:\n  q: {type: text}\nnodes:\n  gen:\n    type: lm_generate\n"
                 "    params: {lm: lm, chat: maybe}\n    inputs: {prompt: inputs.q}\noutputs:\n  a: gen.text\n")
    with pytest.raises(SocraticError) as e:
        Pipeline.from_yaml(f).validate()
    msg = str(e.value)
    assert "chat must be auto, true or false, got 'maybe'" in msg and "gen" in msg and "p.yaml" in msg
