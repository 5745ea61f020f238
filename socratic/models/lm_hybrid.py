"""`backend: hybrid`: one GGUF, greedy decoding and scoring through transformers, sampling through llama.cpp.

Why (benchmarks/lm_backends.py, packaged SmolLM2-135M-Instruct, 2-core CPU, 1 thread, loaded box): llama.cpp
samples the activity workload (8 prompts x 5 samples x 16 tokens) 1.17x faster than transformers with a shared
prefill (2.8x under heavier load), but prefills a 2k-token summary prompt 1.5x slower, and its quantised arithmetic
changes greedy outputs: on 48 realistic egocentric prompts (activity, summary, Q&A; chat and raw; 32 greedy tokens)
31 (65%) came out identical, the others parted after 0-24 tokens. Greedy outputs are what users compare and cache,
so they stay on transformers (the dequantised weights, as before). Sampled completions come from llama.cpp, drawn
with the same per-row seeds as transformers (reproducible for a fixed seed, close to transformers' samples but not
always equal).

On a CUDA device every call goes to transformers (llama-cpp-python is a CPU build here), and so does every call
when the llama.cpp probe (llama_probe.py) found the build unusable on this machine: the outputs then carry a
warning naming the reason and the fix.
Options: those of both backends (`device`, `dtype`, `batch_size`, `shared_prefill`; `n_ctx`, `n_threads`) and
`chat`, `instruct`.
"""

from __future__ import annotations

from typing import Sequence

from .base import LM, Completion
from .loader import ModelSpec
from .lm_transformers import OPTIONS as TF_OPTIONS
from .lm_transformers import TransformersLM
from .resolve import WEIGHT_OPTIONS, check_options

LLAMA_ONLY = {"n_ctx", "n_threads"}
SHARED = {"chat", "instruct", *WEIGHT_OPTIONS, "file", "revision"}


def load_hybrid_lm(spec: ModelSpec) -> "HybridLM":
    check_options(spec, TF_OPTIONS | LLAMA_ONLY)
    o = spec.options
    exact = TransformersLM.from_spec(ModelSpec(spec.name, "lm", "transformers",
                                               {k: v for k, v in o.items() if k in TF_OPTIONS | SHARED}))
    fast, warnings = None, ()
    if exact.device.type == "cpu":
        from .lm_llama_cpp import LlamaCppLM, LlamaUnusable

        try:
            fast = LlamaCppLM.from_spec(ModelSpec(spec.name, "lm", "llama_cpp",
                                                  {k: v for k, v in o.items() if k in LLAMA_ONLY | SHARED}))
        except LlamaUnusable as exc:  # every call on transformers: same greedy outputs, slower sampling
            warnings = (f"model {spec.name!r}: sampling runs on transformers, not llama.cpp: {exc.message}",)
    return HybridLM(exact, fast, warnings)


class HybridLM(LM):
    def __init__(self, exact: LM, fast: LM | None, warnings: tuple[str, ...] = ()):
        self.exact, self.fast = exact, fast
        self.warnings = tuple(warnings)
        self.model_id = exact.model_id
        self.fingerprint = f"hybrid:{exact.fingerprint}" + (f"|{fast.fingerprint}" if fast else "")
        self.chat, self.instruct, self.context_length = exact.chat, exact.instruct, exact.context_length

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, n: int = 1, stop: Sequence[str] = (), seed: int | None = None,
                 logprobs: bool = False, chat: bool | None = None) -> list[list[Completion]]:
        lm = self.fast if (temperature > 0 and self.fast is not None) else self.exact
        return lm.generate(prompts, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, n=n,
                           stop=stop, seed=seed, logprobs=logprobs, chat=chat)

    def score(self, prompts: Sequence[str], continuations: Sequence[str], *, chat: bool | None = None
              ) -> list[list[float]]:
        return self.exact.score(prompts, continuations, chat=chat)

    def count_tokens(self, text: str, *, chat: bool | None = None) -> int:
        return self.exact.count_tokens(text, chat=chat)
