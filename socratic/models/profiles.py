"""Profiles: whole-family swaps of model specs, e.g. `--profile offline` runs any pipeline on packaged weights.

The offline LM is the packaged SmolLM2-135M-Instruct GGUF on the `hybrid` backend (models/lm_hybrid.py): sampling
through llama.cpp, the faster there (benchmarks/lm_backends.py: 1.17x transformers with a shared prefill on the
activity workload, 2.8x under heavier load); greedy decoding and scoring through transformers on the dequantised
weights, faster on long prompts and with the same greedy outputs as before. llama.cpp alone agreed with them on 31
of 48 realistic egocentric prompts (65%, 32 greedy tokens): not enough to hand it greedy decoding.
"""

from __future__ import annotations

from ..errors import SocraticError
from .loader import ModelSpec

# Options kept from the original spec when a profile swaps its weights (how to run, not what to run).
_KEPT = {"lm": ("device", "dtype", "batch_size", "chat", "n_threads"),
         "alm": ("device", "compute_type", "beam_size"), "text_embed": ("device", "batch_size")}

OFFLINE_PROFILE: dict[str, dict] = {
    "lm": {"backend": "hybrid", "packaged": "smollm2-135m-instruct"},
    "alm": {"backend": "faster_whisper", "packaged": "whisper-base-ct2"},
    "text_embed": {"backend": "sentence_transformers", "packaged": "all-minilm-l6-v2"},
}

PROFILES: dict[str, dict[str, dict]] = {"offline": OFFLINE_PROFILE}


def apply_profile(specs: dict[str, ModelSpec], profile: str) -> dict[str, ModelSpec]:
    """`specs` with every model of a family the profile covers replaced by the profile's spec."""
    if profile not in PROFILES:
        raise SocraticError(f"unknown profile {profile!r} (one of {sorted(PROFILES)})", field="profile")
    table = PROFILES[profile]
    out: dict[str, ModelSpec] = {}
    for name, spec in specs.items():
        swap = table.get(spec.family)
        if swap is None:
            out[name] = spec
            continue
        opts = {k: v for k, v in swap.items() if k != "backend"}
        opts.update({k: spec.options[k] for k in _KEPT.get(spec.family, ()) if k in spec.options})
        out[name] = ModelSpec.from_dict(name, {"family": spec.family, "backend": swap["backend"], **opts})
    return out
