"""Linear layers for MAGiC's small per-step matmuls, with weights reordered once for oneDNN on CPU.

A decode step pushes only ~45-110 rows through each weight matrix. PyTorch's default float32 CPU matmul
(MKL's sgemm) packs the weight on every call; oneDNN with a weight reordered once to its blocked layout skips
that and picks kernels for the CPU's widest vector unit (about twice as fast on the AVX-512 AMD box the
benchmark ran on; see benchmarks/README.md), but is much slower on others (8x on an AMX Xeon), so "auto" takes it
only where a timing on the running machine says it wins (`auto_choice`, cached per machine: socratic/tuning.py). Same function (y = x W^T + b), rounding aside. Elsewhere (CUDA,
float64/half, a torch without oneDNN) this is `F.linear`. The reordered copies (about the models' float32 size)
are kept per module while it lives.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .. import tuning

_STORE: "weakref.WeakKeyDictionary[torch.nn.Module, dict[str, Any]]" = weakref.WeakKeyDictionary()


def onednn_available() -> bool:
    ops = getattr(torch.ops, "mkldnn", None)
    try:
        return (torch.backends.mkldnn.is_available() and hasattr(ops, "_reorder_linear_weight")
                and hasattr(ops, "_linear_pointwise"))
    except (AttributeError, RuntimeError):
        return False


def use_packed(weight: torch.Tensor, mode: bool | str = "auto") -> bool:
    """Whether `weight` goes through the reordered oneDNN path: True asks for it; "auto" when it won the timing."""
    if not (mode and weight.device.type == "cpu" and weight.dtype == torch.float32 and onednn_available()):
        return False
    return mode != "auto" or auto_choice().name == "onednn"


@functools.lru_cache(maxsize=1)
def auto_choice() -> tuning.Choice:
    """oneDNN with reordered weights vs stock F.linear, timed once per machine on what a decode step does: six
    GPT-2-small-wide blocks (layer norms, residual adds, GELU, cat around the matmuls) at row counts that change
    from call to call. Timing the matmuls alone misleads: on an AMX Xeon they are faster through oneDNN while the
    whole MAGiC loop is several times slower (measured). Stock unless oneDNN is clearly faster."""
    d = 768
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(o, i, generator=g) * 0.02 for i, o in ((d, 3 * d), (d, d), (d, 4 * d), (4 * d, d))]
    bs = [torch.zeros(w.shape[0]) for w in ws]
    packed = [torch.ops.mkldnn._reorder_linear_weight(w, None) for w in ws]
    x0 = torch.randn(320, d, generator=g)

    def blocks(lin: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        out = x0
        for rows in (45, 46, 160, 320):
            x = x0[:rows]
            for _ in range(6):
                x = x + lin(1, lin(0, F.layer_norm(x, (d,)))[:, :d])
                x = x + lin(3, F.gelu(lin(2, F.layer_norm(x, (d,)))))
                x = torch.cat([x[:1], x[1:]])
            out = x
        return out

    def stock():
        return blocks(lambda i, x: F.linear(x, ws[i], bs[i]))

    def onednn():
        return blocks(lambda i, x: torch.ops.mkldnn._linear_pointwise(x, packed[i], bs[i], "none", [], ""))

    with torch.inference_mode():
        return tuning.fastest("magic.packed_matmuls.blocks", {"stock": stock, "onednn": onednn},
                              versions=f"torch {torch.__version__}", prefer="stock")


class _Packed:
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rows: slice | None, transposed: bool,
                 post: tuple[str, str]):
        self.src, self.version = weight, weight._version
        self.bias, self.bias_version = bias, None if bias is None else bias._version
        w = weight.detach()
        w = w.t() if transposed else w
        b = None if bias is None else bias.detach()
        if rows is not None:
            w, b = w[rows], None if b is None else b[rows]
        self.w = torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), None)
        self.b = None if b is None else b.contiguous()
        self.post = post

    def fresh(self, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
        return (self.src is weight and weight._version == self.version and self.bias is bias
                and (bias is None or bias._version == self.bias_version))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.w, self.b, self.post[0], [], self.post[1])


def linear(owner: torch.nn.Module, name: str, weight: torch.Tensor, bias: torch.Tensor | None, *,
           rows: slice | None = None, transposed: bool = False, act: torch.nn.Module | None = None,
           mode: bool | str = "auto") -> Callable[[torch.Tensor], torch.Tensor]:
    """x -> act(x W[rows]^T + b[rows]). `weight` is (out, in), or (in, out) with `transposed` (GPT-2's Conv1D).

    The reordered weight is cached on `owner` under `name` and redone if the weight changed in place. A tanh
    GELU `act` (GPT-2's) runs inside oneDNN's matmul; any other runs after it.
    """
    if not use_packed(weight, mode):
        store = _STORE.get(owner, {})
        for key in [k for k in store if k.split(":")[0] == name]:
            del store[key]  # a CPU copy of weights since moved or changed in type
        w = weight.t() if transposed else weight
        b = bias
        if rows is not None:
            w, b = w[rows], None if b is None else b[rows]
        if act is None:
            return lambda x: F.linear(x, w, b)
        return lambda x: act(F.linear(x, w, b))
    fused = act is not None and type(act).__name__ in _TANH_GELU
    post = ("gelu", "tanh") if fused else ("none", "")
    store = _STORE.setdefault(owner, {})
    key = f"{name}:{post[0]}"
    p = store.get(key)
    if p is None or not p.fresh(weight, bias):
        p = store[key] = _Packed(weight, bias, rows, transposed, post)
    if act is None or fused:
        return p
    return lambda x: act(p(x))


# 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): what oneDNN's gelu "tanh" post-op computes
_TANH_GELU = ("NewGELUActivation",)
