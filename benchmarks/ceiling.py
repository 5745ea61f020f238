"""How fast a batched workload could run at best: its matmul FLOPs against the device's best matmul speed."""

from __future__ import annotations

import time

import torch


def matrix_flops(module: torch.nn.Module, prefix: str = "", skip: tuple[str, ...] = ()) -> int:
    """2 FLOPs per weight of every matrix under `prefix` (names in `skip` left out): one position's matmuls."""
    return sum(2 * p.numel() for n, p in module.named_parameters()
               if p.ndim == 2 and n.startswith(prefix) and not n.startswith(skip))


def matmul_peak(modules, rows: int, device, reps: int = 5) -> float:
    """The best FLOP/s `torch.mm` reaches with `rows` rows on the modules' own weight shapes (float32)."""
    device = torch.device(device)
    shapes = {tuple(p.shape) for m in modules for p in m.parameters() if p.ndim == 2}
    best = 0.0
    with torch.inference_mode():
        for i, o in shapes:
            x, w = torch.randn(rows, i, device=device), torch.randn(i, o, device=device)
            for _ in range(reps):
                _sync(device)
                t = time.perf_counter()
                torch.mm(x, w)
                _sync(device)
                best = max(best, 2 * rows * i * o / (time.perf_counter() - t))
    return best


def step_floor(work: list[tuple[torch.Tensor, int]], reps: int = 5) -> float:
    """Least seconds for one step's matmuls: each (weight out x in, rows) run once, in order, with its own weights
    (cold, as in a decode step). Stock `F.linear`, and on CPU float32 oneDNN with weights reordered once; the
    faster library counts."""
    w0 = work[0][0]
    xs = [torch.randn(rows, w.shape[1], device=w.device) for w, rows in work]
    runs = [[lambda x, w=w: torch.nn.functional.linear(x, w) for w, _ in work]]
    if w0.device.type == "cpu" and w0.dtype == torch.float32 and torch.backends.mkldnn.is_available():
        runs.append([lambda x, p=torch.ops.mkldnn._reorder_linear_weight(w.detach().contiguous(), None):
                     torch.ops.mkldnn._linear_pointwise(x, p, None, "none", [], "") for w, _ in work])
    best = float("inf")
    with torch.inference_mode():
        for calls in runs:
            for _ in range(reps):
                _sync(w0.device)
                t = time.perf_counter()
                for f, x in zip(calls, xs):
                    f(x)
                _sync(w0.device)
                best = min(best, time.perf_counter() - t)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
