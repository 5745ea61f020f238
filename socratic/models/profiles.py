"""What runs for each model a pipeline names: profiles (whole-family swaps of model specs, e.g. `--profile offline`
runs any pipeline on packaged weights), explicit overrides, and the random stand-ins.

The offline LM is the packaged SmolLM2-135M-Instruct GGUF on the `hybrid` backend (models/lm_hybrid.py): sampling
through llama.cpp, the faster there (benchmarks/lm_backends.py: 1.17x transformers with a shared prefill on the
activity workload, 2.8x under heavier load); greedy decoding and scoring through transformers on the dequantised
weights, faster on long prompts and with the same greedy outputs as before. llama.cpp alone agreed with them on 31
of 48 realistic egocentric prompts (65%, 32 greedy tokens): not enough to hand it greedy decoding.
"""

from __future__ import annotations

from typing import Any

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


def resolve_models(specs: dict[str, ModelSpec], *, profile: str | None = None, random_vlm: bool | str = False,
                   random_atm: bool = False, random_captioner: bool | str = False,
                   overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, ModelSpec]:
    """The specs after a profile, explicit overrides, and the random stand-ins (CLIP, CLAP, captioner).
    `random_vlm`: True (or "tiny") a small random CLIP, fast for tests and demos; "arch" random weights in each
    spec's own architecture (ViT-L-14, ...), so time and memory are what the real model costs. `random_captioner`
    the same: True (or "tiny") or "arch"."""
    for field, value in (("random_vlm", random_vlm), ("random_captioner", random_captioner)):
        if value not in (False, True, "tiny", "arch"):
            raise SocraticError(f"{field} is true, 'tiny' or 'arch', got {value!r}", field=field)
    specs = apply_profile(specs, profile) if profile else dict(specs)
    for name, opts in (overrides or {}).items():
        if name not in specs:
            raise SocraticError(f"override for unknown model '{name}'", field=f"models.{name}")
        specs[name] = ModelSpec.from_dict(name, {**specs[name].to_dict(), **opts})
    # Explicit requests only: small random-init models stand in, and their outputs carry a warning.
    stand_ins = {}
    if random_vlm and random_vlm != "arch":  # "arch": each spec's own architecture, below
        from .vlm_open_clip import STAND_IN_CONFIG

        stand_ins["vlm"] = ("open_clip", {"config": STAND_IN_CONFIG})
    if random_atm:
        stand_ins["atm"] = ("clap", {})  # the backend's tiny default config
    if random_captioner and random_captioner != "arch":
        stand_ins["captioner"] = ("transformers", {})  # a tiny LLaVA-style model (captioner_stand_in.py)
    for name, s in specs.items():
        if s.family == "vlm" and random_vlm == "arch":
            specs[name] = _same_architecture(s)
        elif s.family == "captioner" and random_captioner == "arch":
            specs[name] = _same_captioner_architecture(s)
        elif s.family in stand_ins:
            backend_name, extra = stand_ins[s.family]
            keep = {k: v for k, v in s.options.items() if k in ("device", "dtype", "batch_size", "seed")}
            specs[name] = ModelSpec(name, s.family, backend_name, {**keep, **extra, "random_init": True})
    return specs


def _same_architecture(spec: ModelSpec) -> ModelSpec:
    """Random weights in the architecture `spec` names (its open_clip `name` or `config`); the options that say
    how to run (device, dtype, batch size, speed options) are kept, the ones that say which weights are dropped."""
    arch = {k: spec.options[k] for k in ("name", "config") if k in spec.options}
    if spec.backend != "open_clip" or not arch or str(arch.get("name", "")).startswith(("local-dir:", "hf-hub:")):
        raise SocraticError(f"--random-vlm arch needs an open_clip model with a `name` (such as ViT-L-14) or a "
                            f"`config`; model '{spec.name}' has neither", field=f"models.{spec.name}")
    weights = {"pretrained", "path", "cache_dir", "random_init", "quick_gelu"}
    keep = {k: v for k, v in spec.options.items() if k not in weights}
    return ModelSpec(spec.name, spec.family, "open_clip", {**keep, "random_init": True})


def _same_captioner_architecture(spec: ModelSpec) -> ModelSpec:
    """Random weights in the architecture of the captioner `spec` names by `id` (models/captioner_arch.py)."""
    from .captioner_arch import ARCHITECTURES

    arch = spec.options.get("id")
    if spec.backend != "transformers" or arch not in ARCHITECTURES:
        raise SocraticError(f"--random-captioner-arch needs a transformers captioner whose `id` is one of "
                            f"{sorted(ARCHITECTURES)}; got {arch or spec.backend!r}", field=f"models.{spec.name}")
    keep = {k: v for k, v in spec.options.items() if k in ("device", "dtype", "batch_size", "seed", "chat", "prompt")}
    return ModelSpec(spec.name, spec.family, "transformers", {**keep, "random_init": "arch", "architecture": arch})
