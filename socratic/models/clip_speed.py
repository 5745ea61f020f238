"""CPU speed options of the open_clip backend's image tower. Each is off by default: float32 is the exact
reference (MAGiC and PICa scores depend on exact CLIP outputs). An option that is on joins the model's fingerprint
and id, so cached embeddings and results made without it are never reused. Text embeddings are untouched.

- `cpu_bf16: true|false|auto`: the vision tower's weights in bfloat16, LayerNorm computed in float32 (open_clip's
  own bf16 convention), run by oneDNN's bf16 kernels (AMX where present). Only on a CPU with native bf16
  (`amx_bf16` or `avx512_bf16` in /proc/cpuinfo): `auto` turns it on only there (and not beside `int8`),
  `true` elsewhere is an error.
  autocast was measured and rejected: 5x slower than float32 here (it sends nn.MultiheadAttention down its slow
  path, which copies). oneDNN asks the kernel for AMX permission itself; a child-process trial of its AMX bf16
  matmul on the Xeon VM whose AMX crashed llama.cpp ran fine, so no probe process is needed.
- `int8: true|false`: torch's dynamic int8 quantisation of the vision tower's nn.Linear layers, i.e. the MLPs
  (2/3 of the matmul FLOPs). The attention projections are left in float32: nn.MultiheadAttention's in_proj is a
  bare parameter and its out_proj a NonDynamicallyQuantizableLinear. Weights are packed for oneDNN on CPUs with
  `amx_int8` (measured 64 vs 52 images/s for torch's default x86 engine), else for the default engine.
  `torch.ao.quantization` is deprecated since torch 2.10 (torchao is its successor) but works in 2.11.
- `channels_last: true|false`: the image input and the conv stem in channels-last memory order.

Tolerances (`TOLERANCE`): each option's agreement with float32 on the same weights, as checked by
tests/test_clip_speed.py and printed by benchmarks/clip_cpu.py (see clip_agreement.py).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import SocraticError
from .llama_probe import cpu_flags

SPEED_OPTIONS = ("cpu_bf16", "int8", "channels_last")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")

# option -> (least image-embedding cosine, least top-5 label agreement) against float32 on the same weights.
# Measured (random-weight ViT-B-32 seeds 0-2 and ViT-L-14, 12 probe images x 200 labels): cpu_bf16 cosine >= 0.99992,
# top-5 >= 0.83; int8 >= 0.99975, >= 0.83; channels_last >= 0.9999998, 1.00. Random weights leave label scores
# nearly flat (5th-6th label gap ~1e-3), so top-5 sets flip on tiny changes; real weights separate labels more.
TOLERANCE = {"cpu_bf16": (0.999, 0.75), "int8": (0.999, 0.75), "channels_last": (0.99999, 0.9)}


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX-512 BF16) and torch has oneDNN to use it."""
    return bool(set(BF16_FLAGS) & set(cpu_flags())) and torch.backends.mkldnn.is_available()


def int8_engine() -> str:
    """The quantized engine to pack int8 weights for: oneDNN where AMX int8 runs it, else torch's default."""
    if "onednn" in torch.backends.quantized.supported_engines and "amx_int8" in cpu_flags():
        return "onednn"
    return torch.backends.quantized.engine


def _flag(opts: dict[str, Any], key: str, where: str, allowed: tuple = (True, False)) -> Any:
    value = opts.get(key, False)
    if value not in allowed or (value in (0, 1) and not isinstance(value, bool)):
        raise SocraticError(f"{key} must be one of {list(allowed)}, got {value!r}", field=f"{where}.{key}")
    return value


@dataclass(frozen=True)
class CpuSpeed:
    """The speed options in force for one model (all False: the float32 reference)."""

    bf16: bool = False
    int8: str = ""  # the quantized engine, "" when off
    channels_last: bool = False

    @classmethod
    def from_options(cls, opts: dict[str, Any], device: torch.device, dtype: torch.dtype,
                     where: str) -> "CpuSpeed":
        bf16 = _flag(opts, "cpu_bf16", where, (True, False, "auto"))
        int8 = _flag(opts, "int8", where)
        channels_last = _flag(opts, "channels_last", where)
        plain = device.type == "cpu" and dtype == torch.float32
        if bf16 is True:
            if not plain:
                raise SocraticError(f"cpu_bf16 applies to a float32 model on the CPU (this one: {device}, {dtype})",
                                    field=f"{where}.cpu_bf16")
            if not native_bf16():
                raise SocraticError(f"cpu_bf16: true, but this CPU has no native bfloat16 (none of "
                                    f"{'/'.join(BF16_FLAGS)} in /proc/cpuinfo): use auto or false",
                                    field=f"{where}.cpu_bf16")
        bf16 = bf16 is True or (bf16 == "auto" and plain and not int8 and native_bf16())
        if int8 and not plain:
            raise SocraticError(f"int8 applies to a float32 model on the CPU (this one: {device}, {dtype})",
                                field=f"{where}.int8")
        if int8 and bf16:
            raise SocraticError("int8 and cpu_bf16 exclude each other: pick one", field=f"{where}.int8")
        return cls(bf16=bf16, int8=int8_engine() if int8 else "", channels_last=bool(channels_last))

    def tag(self) -> str:
        """'' for the reference, else '+cpu_bf16', '+int8=onednn', ... (joins the fingerprint and model id)."""
        parts = (["cpu_bf16"] if self.bf16 else []) + ([f"int8={self.int8}"] if self.int8 else []) + \
                (["channels_last"] if self.channels_last else [])
        return "".join(f"+{p}" for p in parts)

    def apply(self, model: nn.Module) -> None:
        """Convert the model's vision tower in place."""
        from open_clip.model import convert_weights_to_lp
        from open_clip.transformer import LayerNorm, LayerNormFp32

        visual = model.visual
        if self.bf16:
            convert_weights_to_lp(visual, torch.bfloat16)
            for m in visual.modules():
                if type(m) is LayerNorm:
                    m.__class__ = LayerNormFp32  # same parameters, computed in float32
        if self.int8:
            previous = torch.backends.quantized.engine
            try:
                torch.backends.quantized.engine = self.int8  # weights are packed for the engine in force
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")
                    torch.ao.quantization.quantize_dynamic(visual, {nn.Linear}, dtype=torch.qint8, inplace=True)
            finally:
                torch.backends.quantized.engine = previous
        if self.channels_last and hasattr(visual, "conv1"):
            visual.conv1.to(memory_format=torch.channels_last)

    def pixels(self, batch: torch.Tensor) -> torch.Tensor:
        """A float32 (N, C, H, W) batch made ready for the converted tower."""
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch.to(torch.bfloat16) if self.bf16 else batch
