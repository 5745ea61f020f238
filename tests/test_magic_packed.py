"""MAGiC's fast building blocks against the stock computations they replace.

`packed_linear.linear` (oneDNN with the weight reordered once, CPU float32) against `F.linear`, and the GPT-2
candidate pass run layer by layer against the model's own forward over the same cache and tree mask.
"""

import copy

import pytest
import torch
import torch.nn.functional as F

from socratic.magic.gpt2_candidates import Gpt2Candidates, unsupported
from socratic.magic.offline import random_lm
from socratic.magic.packed_linear import linear, onednn_available, use_packed
from support.magic import _one_thread, tok  # noqa: F401  (fixtures)

needs_onednn = pytest.mark.skipif(not onednn_available(), reason="torch built without oneDNN")


@needs_onednn
def test_packed_linear_equals_f_linear_and_follows_weight_changes():
    torch.manual_seed(0)
    lin = torch.nn.Linear(96, 80)
    x = torch.randn(2, 37, 96)
    f = linear(lin, "w", lin.weight, lin.bias, mode=True)
    assert use_packed(lin.weight, True) and not isinstance(f, type(lambda: 0))
    torch.testing.assert_close(f(x), F.linear(x, lin.weight, lin.bias), rtol=1e-5, atol=1e-5)
    # rows of the weight (CLIP's q / kv parts of in_proj) and GPT-2's (in, out) layout
    part = linear(lin, "rows", lin.weight, lin.bias, rows=slice(16, 48), mode=True)
    torch.testing.assert_close(part(x), F.linear(x, lin.weight[16:48], lin.bias[16:48]), rtol=1e-5, atol=1e-5)
    wt = lin.weight.detach().t().contiguous()
    conv = linear(lin, "t", wt, lin.bias, transposed=True, mode=True)
    torch.testing.assert_close(conv(x), x @ wt + lin.bias, rtol=1e-5, atol=1e-5)
    # a weight changed in place is reordered again
    with torch.no_grad():
        lin.weight.mul_(-2.0)
    g = linear(lin, "w", lin.weight, lin.bias, mode=True)
    assert g is not f
    torch.testing.assert_close(g(x), F.linear(x, lin.weight, lin.bias), rtol=1e-5, atol=1e-5)
    assert linear(lin, "w", lin.weight, lin.bias, mode=True) is g
    # moved to another dtype: the stale reordered copy is dropped
    from socratic.magic.packed_linear import _STORE

    lin.double()
    linear(lin, "w", lin.weight, lin.bias, mode=True)
    assert not any(key.startswith("w:") for key in _STORE[lin])


@needs_onednn
def test_gpt2_gelu_runs_inside_the_matmul_and_others_after_it():
    from transformers.activations import NewGELUActivation

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 256)
    x = torch.randn(1, 45, 64)
    for act in (NewGELUActivation(), torch.nn.GELU(), torch.nn.ReLU()):
        f = linear(lin, "fc", lin.weight, lin.bias, act=act, mode=True)
        torch.testing.assert_close(f(x), act(F.linear(x, lin.weight, lin.bias)), rtol=1e-5, atol=1e-5)
    fused = linear(lin, "fc", lin.weight, lin.bias, act=NewGELUActivation(), mode=True)
    assert fused.post == ("gelu", "tanh")


def test_auto_follows_the_timing_on_this_machine():
    from socratic.magic.packed_linear import auto_choice

    lin = torch.nn.Linear(16, 8)
    choice = auto_choice()
    assert choice.name in ("stock", "onednn") and set(choice.seconds) == {"stock", "onednn"}
    assert use_packed(lin.weight) == (onednn_available() and choice.name == "onednn")
    # stock unless oneDNN won by the margin (the preferred candidate keeps close calls)
    if choice.name == "onednn":
        assert choice.seconds["onednn"] * 1.15 < choice.seconds["stock"]


def test_other_dtypes_and_the_off_switch_use_f_linear():
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 8).double()
    x = torch.randn(3, 16, dtype=torch.float64)
    assert not use_packed(lin.weight)
    assert torch.equal(linear(lin, "w", lin.weight, lin.bias)(x), F.linear(x, lin.weight, lin.bias))
    lin32 = torch.nn.Linear(16, 8)
    assert not use_packed(lin32.weight, False)
    assert torch.equal(linear(lin32, "w", lin32.weight, lin32.bias, mode=False)(x.float()),
                       F.linear(x.float(), lin32.weight, lin32.bias))


def _tree_pass_both_ways(lm, dtype):
    """Hidden states and caches of the candidate pass: the model's forward vs Gpt2Candidates."""
    from transformers import DynamicCache

    from socratic.magic.decode import _additive
    from socratic.models.hf_forward import cache_arg

    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50000, (2, 6), generator=gen)
    mask2d = torch.ones(2, 6, dtype=torch.long)
    mask2d[1, :2] = 0  # left padding on the second row
    pos = (mask2d.cumsum(-1) - 1).clamp_min(0)
    cache = DynamicCache(config=lm.config)
    with torch.no_grad():
        lm(input_ids=ids, attention_mask=mask2d, position_ids=pos, use_cache=True, **{cache_arg(lm): cache})
    other = copy.deepcopy(cache)
    k = 5
    cand = torch.randint(0, 50000, (2, k), generator=gen)
    allowed = torch.cat([mask2d.bool()[:, None, :].expand(2, k, 6), torch.eye(k, dtype=torch.bool).expand(2, k, k)],
                        dim=-1)
    mask = _additive(allowed[:, None], lm)
    next_pos = mask2d.sum(-1)[:, None].expand(2, k)
    with torch.no_grad():
        ref = lm(input_ids=cand, attention_mask=mask, position_ids=next_pos, use_cache=True, **{cache_arg(lm): cache},
                 output_hidden_states=True).hidden_states[-1]
        own = Gpt2Candidates(lm)(cand, next_pos, mask, other)
    assert own.dtype == dtype
    return ref, own, cache, other


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 2e-4)])
def test_gpt2_candidate_pass_equals_the_models_forward(tok, dtype, tol):
    lm = random_lm(tok, dtype=dtype, seed=3)
    assert unsupported(lm) == ""
    ref, own, cache, other = _tree_pass_both_ways(lm, dtype)
    torch.testing.assert_close(own, ref, rtol=tol, atol=tol)
    for a, b in zip(cache.layers, other.layers):  # the candidates' keys/values were appended the same way
        torch.testing.assert_close(b.keys, a.keys, rtol=tol, atol=tol)
        torch.testing.assert_close(b.values, a.values, rtol=tol, atol=tol)


def test_models_the_pass_does_not_run_say_why(tok):
    lm = random_lm(tok, seed=0)
    train = copy.deepcopy(lm).train()
    assert "training" in unsupported(train)
    upcast = random_lm(tok, seed=0, attn="eager")
    upcast.config.reorder_and_upcast_attn = True
    assert "upcast" in unsupported(upcast)
    assert "GPT-2" in unsupported(torch.nn.Linear(2, 2))
