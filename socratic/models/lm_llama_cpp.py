"""Local GGUF LMs in process through llama.cpp (llama-cpp-python): `backend: llama_cpp`.

Weights: `packaged:` (e.g. smollm2-135m-instruct, checksum-verified), `package:`+`file:` or `path:` to a .gguf file.
Options: `n_ctx` (default: the context the model was trained with), `n_threads` (default: the CPUs this process
may use), `chat`, `instruct`.

The n samples of a prompt share one prefill: the prompt's keys/values are shared by n sequences of one unified
cache (no copy), and the n samples are decoded together, one batch of n tokens a step (so a sample is reproducible
for a fixed prompt, seed and n: the batch's width changes llama.cpp's rounding). Sampling draws from the same
per-row generators as the transformers backend (seeded by seed, sample index and prompt), on llama.cpp's logits.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import SocraticError
from . import llama_probe
from .base import LM, Completion, instruct_name, prepare_decoding
from .loader import ModelSpec
from .lm_transformers import _copy, _sample, row_seed
from .resolve import check_options, resolve_weights

OPTIONS = {"chat", "instruct", "n_ctx", "n_threads", "batch_size"}
MAX_SEQUENCES = 16  # samples decoded together


def load_llama_cpp_lm(spec: ModelSpec) -> "LlamaCppLM":
    return LlamaCppLM.from_spec(spec)


class LlamaUnusable(SocraticError):
    """The in-process probe found this llama.cpp build unusable here (see llama_probe)."""


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LlamaCppLM(LM):
    def __init__(self, gguf: Path, *, model_id: str, fingerprint: str, chat: bool = False,
                 instruct: bool | None = None, n_ctx: int = 0, n_threads: int | None = None,
                 batch_size: int = 512):
        if not llama_probe.library_files():
            raise SocraticError("the llama_cpp backend needs llama-cpp-python: `bash scripts/setup.sh` builds it",
                                field="backend")
        v = llama_probe.verdict(gguf)  # a child process decodes first: a native crash never kills this one
        if not v.ok:
            raise LlamaUnusable(f"llama.cpp is not usable on this machine ({v.reason}); {llama_probe.FIX}",
                                field="backend")
        import llama_cpp
        self._lc = llama_cpp
        from llama_cpp import _internals

        threads = int(n_threads or usable_cpus())
        try:  # the Llama object gives weights, tokenizer and metadata; its own context stays tiny
            self.llama = llama_cpp.Llama(str(gguf), n_ctx=32, n_batch=32, n_threads=threads,
                                         n_threads_batch=threads, logits_all=False, verbose=False)
            params = type(self.llama.context_params).from_buffer_copy(self.llama.context_params)
            params.n_ctx = int(n_ctx) or self.llama._model.n_ctx_train()
            params.n_batch = params.n_ubatch = max(MAX_SEQUENCES, min(params.n_ctx, int(batch_size)))
            params.n_seq_max, params.kv_unified = MAX_SEQUENCES, True
            self._ctx = _internals.LlamaContext(model=self.llama._model, params=params, verbose=False)
            self._batch = _internals.LlamaBatch(n_tokens=params.n_batch, embd=0, n_seq_max=1, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise SocraticError(f"llama.cpp cannot load {gguf.name}: {exc}", field="path") from None
        self._n_batch = int(params.n_batch)
        self.model_id, self.fingerprint = model_id, fingerprint
        self.chat = bool(chat)
        self.context_length = int(self._ctx.n_ctx())
        self.template = self.llama.metadata.get("tokenizer.chat_template") or None
        self.instruct = bool(instruct) if instruct is not None else (
            self.template is not None and instruct_name(model_id, gguf.name))
        if self.chat and self.template is None:
            raise SocraticError(f"model {model_id!r} has no chat template; set `chat: false`", field="chat")
        self._vocab = self.llama._model.vocab
        self._n_vocab = self.llama.n_vocab()
        self._add_bos = bool(self.llama._model.add_bos_token())
        self._kv: list[int] = []  # tokens whose keys/values sit in the cache, from position 0
        self._memo: tuple | None = None  # (prompt key, logits) of the last prefill
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "LlamaCppLM":
        check_options(spec, OPTIONS)
        o = spec.options
        if o.get("id"):
            raise SocraticError("the llama_cpp backend loads GGUF files: use `packaged:`, `package:`+`file:` or "
                                "`path:` to a .gguf", field=f"models.{spec.name}.id")
        w = resolve_weights(spec)
        if w.path is None or not w.path.is_file() or w.path.suffix.lower() != ".gguf":
            raise SocraticError(f"{w.path} is not a .gguf file (the llama_cpp backend needs one)",
                                field=f"models.{spec.name}")
        instruct = o.get("instruct")
        return cls(w.path, model_id=w.label, fingerprint=f"llama_cpp:{w.fingerprint}", chat=bool(o.get("chat", False)),
                   instruct=None if instruct is None else bool(instruct), n_ctx=int(o.get("n_ctx", 0)),
                   n_threads=o.get("n_threads"), batch_size=int(o.get("batch_size", 512)))

    # ---- text <-> tokens ------------------------------------------------------------------------------
    def chat_text(self, prompt: str) -> str:
        if self.template is None:
            raise SocraticError(f"model {self.model_id!r} has no chat template; set `chat: false`", field="chat")
        return render_chat(self.template, prompt, bos=self._piece(self.llama.token_bos()),
                           eos=self._piece(self.llama.token_eos()))

    def _piece(self, token: int) -> str:
        return self.llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    def _tokens(self, text: str, bos: bool) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=bos, special=True) if text else []

    def prompt_ids(self, prompt: str, chat: bool | None = None) -> list[int]:
        if self.use_chat(chat):
            return self._tokens(self.chat_text(prompt), False)
        return self._tokens(prompt, self._add_bos)

    def count_tokens(self, text: str, *, chat: bool | None = None) -> int:
        return len(self.prompt_ids(text, chat))

    def encode_prompt(self, prompt: str, chat: bool | None = None) -> list[int]:
        ids = self.prompt_ids(prompt, chat)
        if not ids:
            bos = self.llama.token_bos()
            if bos < 0:
                raise SocraticError(f"empty prompt: {self.model_id!r} has no BOS token to start from")
            ids = [bos]
        if len(ids) >= self.context_length:
            raise SocraticError(f"prompt is {len(ids)} tokens; {self.model_id!r} takes at most {self.context_length}")
        return ids

    def _text(self, ids: list[int]) -> str:
        return self.llama.detokenize(ids).decode("utf-8", "replace")

    # ---- evaluation -----------------------------------------------------------------------------------
    # A prompt is always evaluated from position 0 in the same chunks: re-using another prompt's cached prefix
    # changes how tokens are batched, which moves log-probs by ~0.01-0.1 and would make outputs depend on the
    # previous call. Sequence 0 holds the last prompt; samples 1.. share its cells and are dropped after.
    def _truncate(self, keep: int) -> None:
        self._ctx.kv_cache_seq_rm(0, keep, -1)
        del self._kv[keep:]

    def _prefill(self, tokens: list[int], first_out: int) -> np.ndarray:
        """Logits after positions first_out .. len(tokens)-1, with `tokens` (only) in sequence 0."""
        key = (tuple(tokens), first_out)
        if self._memo is not None and self._memo[0] == key and self._kv[:len(tokens)] == tokens:
            self._truncate(len(tokens))
            return self._memo[1]
        self._truncate(0)
        logits = self._decode([(t, i, 0, i >= first_out) for i, t in enumerate(tokens)])
        self._kv = list(tokens)
        self._memo = (key, logits)
        return logits

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> np.ndarray:
        """Evaluate (token, position, sequence, wants logits) entries in batches; the wanted logits, in order."""
        rows: list[np.ndarray] = []
        b = self._batch.batch
        for at in range(0, len(entries), self._n_batch):
            part = entries[at:at + self._n_batch]
            b.n_tokens = len(part)
            for k, (tok, pos, seq, out) in enumerate(part):
                b.token[k], b.pos[k], b.seq_id[k][0], b.n_seq_id[k], b.logits[k] = tok, pos, seq, 1, out
            try:
                self._ctx.decode(self._batch)
            except RuntimeError as exc:
                self._reset()
                raise SocraticError(f"llama.cpp failed on {self.model_id!r}: {exc}") from None
            n_out = sum(e[3] for e in part)
            if n_out:
                ptr = ctypes.cast(self._ctx.get_logits(), ctypes.POINTER(ctypes.c_float))
                rows.append(np.ctypeslib.as_array(ptr, shape=(n_out, self._n_vocab)).copy())
        return np.concatenate(rows) if rows else np.zeros((0, self._n_vocab), np.float32)

    def _reset(self) -> None:
        self._ctx.kv_cache_clear()
        self._kv, self._memo = [], None

    # ---- generation -----------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, n: int = 1, stop: Sequence[str] = (), seed: int | None = None,
                 logprobs: bool = False, chat: bool | None = None) -> list[list[Completion]]:
        prompts, encoded, stop, greedy, seed = prepare_decoding(
            self, prompts, n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, stop=stop,
            seed=seed, chat=chat)
        out: list[list[Completion]] = []
        with self._lock, torch.inference_mode():
            for p, ids in zip(prompts, encoded):
                budget = min(max_new_tokens, self.context_length - len(ids))
                first = torch.from_numpy(self._prefill(ids, len(ids) - 1)[-1])
                if greedy:
                    (c,) = self._decode_group(len(ids), first, budget, temperature, top_p, [None], stop)
                    out.append([_copy(c) for _ in range(n)])
                    continue
                gens = [torch.Generator().manual_seed(row_seed(seed, j, p)) for j in range(n)]
                # samples decoded together, as many as the sequences and the free cache cells allow
                group = max(1, min(MAX_SEQUENCES, (self.context_length - len(ids)) // max(1, budget)))
                row: list[Completion] = []
                for g in range(0, n, group):
                    row += self._decode_group(len(ids), first, budget, temperature, top_p, gens[g:g + group], stop)
                out.append(row)
        return out

    def _decode_group(self, plen, first_logits, budget, temperature, top_p, gens, stop) -> list[Completion]:
        """One completion per generator (None: greedy), decoded side by side in sequences 0..len(gens)-1 after
        the prompt's `plen` tokens in sequence 0."""
        m = len(gens)
        for j in range(1, m):
            self._ctx.kv_cache_seq_cp(0, j, 0, plen)
        ids: list[list[int]] = [[] for _ in range(m)]
        lps: list[list[float]] = [[] for _ in range(m)]
        logits = {j: first_logits for j in range(m)}
        try:
            for step in range(budget):
                entries = []
                for j, row in logits.items():
                    g = gens[j]
                    t = int(row.argmax()) if g is None else int(_sample(row[None], temperature, top_p, [g])[0])
                    if self._lc.llama_vocab_is_eog(self._vocab, t):
                        continue
                    ids[j].append(t)
                    lps[j].append(float(row.log_softmax(-1)[t]))
                    if stop and any(s in self._text(ids[j]) for s in stop):
                        continue
                    entries.append((t, plen + step, j, True))
                if not entries or step == budget - 1:
                    break
                new = torch.from_numpy(self._decode(entries))
                logits = {e[2]: new[k] for k, e in enumerate(entries)}
        finally:
            for j in range(1, m):
                self._ctx.kv_cache_seq_rm(j, 0, -1)
            self._truncate(plen)
        return [self._completion(i, lp, stop) for i, lp in zip(ids, lps)]

    def _completion(self, ids: list[int], lps: list[float], stop: Sequence[str]) -> Completion:
        text = self._text(ids)
        cut = min((text.find(s) for s in stop if s in text), default=-1)
        if cut >= 0:
            text = text[:cut]
            keep = 0  # tokens that end at or before the stop string starts
            while keep < len(ids) and len(self._text(ids[:keep + 1])) <= cut:
                keep += 1
            ids, lps = ids[:keep], lps[:keep]
        return Completion(text=text, token_logprobs=list(lps), tokens=[self._text([t]) for t in ids])

    # ---- scoring --------------------------------------------------------------------------------------
    def score(self, prompts: Sequence[str], continuations: Sequence[str], *, chat: bool | None = None
              ) -> list[list[float]]:
        """Log-probs of each continuation's tokens (prompt and continuation tokenised separately)."""
        if len(prompts) != len(continuations):
            raise SocraticError(f"score: {len(prompts)} prompts but {len(continuations)} continuations")
        result: list[list[float]] = []
        with self._lock:
            for p, c in zip(prompts, continuations):
                ids, cont = self.encode_prompt(p, chat), self._tokens(c, False)
                if not cont:
                    result.append([])
                    continue
                if len(ids) + len(cont) > self.context_length:
                    raise SocraticError(f"prompt and continuation are {len(ids) + len(cont)} tokens; "
                                        f"{self.model_id!r} takes at most {self.context_length}")
                logits = torch.from_numpy(self._prefill(ids + cont[:-1], len(ids) - 1))
                logp = logits.log_softmax(-1)
                result.append(logp.gather(1, torch.tensor(cont)[:, None])[:, 0].tolist())
        return result


def render_chat(template: str, prompt: str, *, bos: str = "", eos: str = "") -> str:
    """One user message in a GGUF's Jinja chat template, with the generation prompt (rendered as transformers
    renders chat templates: sandboxed, trim_blocks, lstrip_blocks)."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def fail(message):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = fail
    try:
        return env.from_string(template).render(messages=[{"role": "user", "content": prompt}],
                                                add_generation_prompt=True, bos_token=bos, eos_token=eos)
    except TemplateError as exc:
        raise SocraticError(f"the model's chat template failed: {exc}", field="chat") from None
