"""Local causal LMs through transformers: a hub id (local cache), a local directory, or a GGUF file.

A GGUF file is dequantised by transformers once, saved with save_pretrained under
cache/models/<sha256 of the gguf>, and loaded from there afterwards.

n sampled completions of one prompt share one prefill: the prompt's key/value cache is computed once and repeated
to n rows (`shared_prefill: false` gives every row its own prefill). Each row samples from its own generator,
seeded by (seed, sample index, prompt), so both paths draw the same samples.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Sequence

import torch

from ..encoding import utf8
from ..errors import SocraticError
from ..paths import cache_dir
from .base import LM, Completion, instruct_name, prepare_decoding
from .hf_forward import accepts, cache_arg
from .loader import ModelSpec, pick_device, pick_dtype
from .packaged import sha256_file
from .resolve import Weights, check_options, resolve_weights

OPTIONS = {"device", "dtype", "chat", "instruct", "batch_size", "shared_prefill"}


def load_transformers_lm(spec: ModelSpec) -> "TransformersLM":
    return TransformersLM.from_spec(spec)


def converted_gguf(gguf: Path, sha: str | None = None) -> Path:
    """A save_pretrained copy of `gguf` in the cache, converted on first use (temp dir, then rename)."""
    sha = sha or sha256_file(gguf)
    parent = cache_dir("models")
    target = parent / sha
    if (target / "CONVERTED").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}.", dir=parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                     **_dequantize_kwargs())
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if not getattr(tok, "chat_template", None):
            tok.chat_template = _gguf_chat_template(gguf)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "CONVERTED").write_text(f"{gguf.name}\n{sha}\n")
        if target.exists():  # a partial copy from an interrupted older layout
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "CONVERTED").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _dequantize_kwargs() -> dict:
    """Ask for plain dense weights (recent transformers otherwise keeps GGUF blocks, which cannot be saved)."""
    try:
        from transformers import GgufConfig
    except ImportError:  # older transformers always dequantise
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


def _gguf_chat_template(gguf: Path) -> str | None:
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(gguf)).fields.get("tokenizer.chat_template")
        return bytes(field.parts[field.data[0]]).decode() if field else None
    except Exception:  # the template is optional
        return None


def row_seed(seed: int, sample: int, prompt: str) -> int:
    """Seed of one sampled row: independent of batching and of the other prompts in the call."""
    h = hashlib.sha256(utf8(f"{seed}\0{sample}\0{prompt}", exact=True)).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


class TransformersLM(LM):
    def __init__(self, model, tokenizer, *, model_id: str, fingerprint: str, device: torch.device,
                 chat: bool = False, batch_size: int = 8, instruct: bool | None = None,
                 shared_prefill: bool = True, names: tuple[str, ...] = ()):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.model_id, self.fingerprint = model_id, fingerprint
        self.device, self.chat, self.batch_size = device, bool(chat), max(1, int(batch_size))
        self.shared_prefill = bool(shared_prefill)
        has_template = bool(getattr(tokenizer, "chat_template", None))
        self.instruct = bool(instruct) if instruct is not None else (
            has_template and instruct_name(model_id, *names))
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.convert_ids_to_tokens(0)
        tokenizer.padding_side = "left"
        self.eos_ids = _eos_ids(model, tokenizer)
        self._keep_logits = accepts(model, "logits_to_keep")
        self._cache_arg = cache_arg(model)
        self._max_pos = getattr(model.config, "max_position_embeddings", None) or getattr(
            model.config, "n_positions", None)
        self.context_length = int(self._max_pos) if self._max_pos else None
        self._lock = threading.Lock()
        if chat and not getattr(tokenizer, "chat_template", None):
            raise SocraticError(f"model {model_id!r} has no chat template; set `chat: false`", field="chat")

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "TransformersLM":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        check_options(spec, OPTIONS)
        o = spec.options
        w: Weights = resolve_weights(spec)
        device = pick_device(o.get("device"))
        dtype = pick_dtype(o.get("dtype"), device)
        kw = {"revision": w.revision, "local_files_only": w.local_files_only} if w.path is None else {}
        target = w.target
        if w.path is not None and w.path.is_file():
            if w.path.suffix.lower() != ".gguf":
                raise SocraticError(f"{w.path} is a file but not a .gguf; give a GGUF file or a model directory",
                                    field=f"models.{spec.name}")
            target = str(converted_gguf(w.path))
        try:
            tok = AutoTokenizer.from_pretrained(target, **kw)
            model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype, **kw)
        except OSError as exc:
            raise SocraticError(f"cannot load {w.label!r}: {exc}", field=f"models.{spec.name}") from None
        instruct = o.get("instruct")
        return cls(model, tok, model_id=w.label, fingerprint=w.fingerprint, device=device,
                   chat=bool(o.get("chat", False)), batch_size=int(o.get("batch_size", 8)),
                   instruct=None if instruct is None else bool(instruct),
                   shared_prefill=bool(o.get("shared_prefill", True)),
                   names=tuple(str(x) for x in (w.path.name if w.path else None, w.hub_id) if x))

    # ---- encoding -------------------------------------------------------------------------------------
    def chat_text(self, prompt: str) -> str:
        """`prompt` as one user message in the model's chat template, with the generation prompt."""
        tok = self.tokenizer
        if not getattr(tok, "chat_template", None):
            raise SocraticError(f"model {self.model_id!r} has no chat template; set `chat: false`", field="chat")
        return tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                       add_generation_prompt=True)

    def prompt_ids(self, prompt: str, chat: bool | None = None) -> list[int]:
        """Token ids of `prompt` (chat-wrapped when chat applies), not checked against the context."""
        tok = self.tokenizer
        if self.use_chat(chat):
            return list(tok(self.chat_text(prompt), add_special_tokens=False)["input_ids"])
        return list(tok(prompt)["input_ids"])

    def count_tokens(self, text: str, *, chat: bool | None = None) -> int:
        return len(self.prompt_ids(text, chat))

    def encode_prompt(self, prompt: str, chat: bool | None = None) -> list[int]:
        ids = self.prompt_ids(prompt, chat)
        if not ids:
            if self.tokenizer.bos_token_id is None:
                raise SocraticError(f"empty prompt: {self.model_id!r} has no BOS token to start from")
            ids = [self.tokenizer.bos_token_id]
        if self._max_pos and len(ids) >= self._max_pos:
            raise SocraticError(f"prompt is {len(ids)} tokens; {self.model_id!r} takes at most {self._max_pos}")
        return ids

    def _batch(self, seqs: list[list[int]]):
        """Left-padded ids, attention mask and position ids."""
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[r, width - len(s):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids.to(self.device), mask.to(self.device), pos.to(self.device)

    def _forward(self, ids, mask, pos, cache=None, keep: int | None = None) -> torch.Tensor:
        """Logits of the last `keep` positions (all when None); `cache`, when given, is extended in place."""
        kw = {"logits_to_keep": keep} if (keep and self._keep_logits) else {}
        if cache is not None:
            kw[self._cache_arg] = cache
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=cache is not None, **kw)
        return out.logits.float()

    # ---- generation -----------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, n: int = 1, stop: Sequence[str] = (), seed: int | None = None,
                 logprobs: bool = False, chat: bool | None = None) -> list[list[Completion]]:
        prompts, encoded, stop, greedy, seed = prepare_decoding(
            self, prompts, n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, stop=stop,
            seed=seed, chat=chat)
        per_prompt = 1 if greedy else n
        shared = per_prompt > 1 and self.shared_prefill
        # rows of one batch: (prompt, sample) pairs, or whole prompts whose n samples share a prefill
        rows = [(i, j) for i in range(len(prompts)) for j in range(1 if shared else per_prompt)]
        rows.sort(key=lambda r: -len(encoded[r[0]]))  # similar lengths share a batch: less padding
        step = -(-self.batch_size // per_prompt) if shared else self.batch_size  # about batch_size rows
        done: dict[tuple[int, int], Completion] = {}
        with self._lock, torch.inference_mode():
            for b in range(0, len(rows), step):
                chunk = rows[b:b + step]
                keys = [(i, j) for i, _ in chunk for j in range(per_prompt)] if shared else chunk
                gens = None
                if not greedy:
                    gens = [torch.Generator(device=self.device).manual_seed(row_seed(seed, j, prompts[i]))
                            for i, j in keys]
                outs = self._decode([encoded[i] for i, _ in chunk], max_new_tokens, temperature, top_p, gens,
                                    stop, expand=per_prompt if shared else 1)
                done.update(zip(keys, outs))
        if greedy:
            return [[_copy(done[(i, 0)]) for _ in range(n)] for i in range(len(prompts))]
        return [[done[(i, j)] for j in range(n)] for i in range(len(prompts))]

    def _decode(self, seqs, max_new_tokens, temperature, top_p, gens, stop, expand: int = 1) -> list[Completion]:
        """Decode every sequence; with `expand` > 1 each one's prefill is repeated to `expand` consecutive rows."""
        from transformers import DynamicCache

        B = len(seqs) * expand
        if self._max_pos:
            max_new_tokens = min(max_new_tokens, self._max_pos - max(len(s) for s in seqs))
        out_ids: list[list[int]] = [[] for _ in range(B)]
        out_lp: list[list[float]] = [[] for _ in range(B)]
        if max_new_tokens <= 0:
            return [self._completion([], [], stop) for _ in range(B)]
        ids, mask, pos = self._batch(seqs)
        finished = [False] * B
        cache = DynamicCache(config=self.model.config)
        logits = self._forward(ids, mask, pos, cache, keep=1)[:, -1, :]
        if expand > 1:
            cache.batch_repeat_interleave(expand)
            logits, mask, pos = (t.repeat_interleave(expand, dim=0) for t in (logits, mask, pos))
        for step in range(max_new_tokens):
            if step:
                logits = self._forward(ids, mask, pos, cache, keep=1)[:, -1, :]
            logp = logits.log_softmax(-1)
            nxt = logits.argmax(-1) if gens is None else _sample(logits, temperature, top_p, gens)
            chosen = logp.gather(1, nxt[:, None])[:, 0].tolist()
            for r, t in enumerate(nxt.tolist()):
                if finished[r]:
                    continue
                if t in self.eos_ids:
                    finished[r] = True
                    continue
                out_ids[r].append(t)
                out_lp[r].append(chosen[r])
                if stop and _has_stop(self.tokenizer.decode(out_ids[r], skip_special_tokens=True), stop):
                    finished[r] = True
            if all(finished):
                break
            ids = nxt[:, None].masked_fill(torch.tensor(finished, device=self.device)[:, None],
                                           self.tokenizer.pad_token_id)
            mask = torch.cat([mask, mask.new_ones((B, 1))], dim=1)
            pos = pos[:, -1:] + 1
        return [self._completion(i, lp, stop) for i, lp in zip(out_ids, out_lp)]

    def _completion(self, ids: list[int], lps: list[float], stop: Sequence[str]) -> Completion:
        dec = self.tokenizer.decode
        text = dec(ids, skip_special_tokens=True)
        cut = min((text.find(s) for s in stop if s in text), default=-1)
        if cut >= 0:
            text = text[:cut]
            keep = 0  # tokens that end at or before the stop string starts
            while keep < len(ids) and len(dec(ids[:keep + 1], skip_special_tokens=True)) <= cut:
                keep += 1
            ids, lps = ids[:keep], lps[:keep]
        return Completion(text=text, token_logprobs=list(lps), tokens=[dec([t]) for t in ids])

    # ---- scoring --------------------------------------------------------------------------------------
    def score(self, prompts: Sequence[str], continuations: Sequence[str], *, chat: bool | None = None
              ) -> list[list[float]]:
        """Log-probs of each continuation's tokens (prompt and continuation tokenised separately)."""
        if len(prompts) != len(continuations):
            raise SocraticError(f"score: {len(prompts)} prompts but {len(continuations)} continuations")
        pairs = [(self.encode_prompt(p, chat), self.tokenizer(c, add_special_tokens=False)["input_ids"])
                 for p, c in zip(prompts, continuations)]
        result: list[list[float]] = [[] for _ in pairs]
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, (p, c) in enumerate(pairs):
            if c:
                groups.setdefault(tuple(p), []).append(k)
        shared = [g for g in groups.values() if len(g) > 1]  # one prompt, several continuations (options)
        alone = {k for g in shared for k in g}
        order = sorted((k for k in range(len(pairs)) if pairs[k][1] and k not in alone),
                       key=lambda k: -sum(map(len, pairs[k])))
        single = [g for g in shared if all(len(pairs[k][1]) == 1 for k in g)]  # e.g. ratings "1" / "2" / "3"
        with self._lock, torch.inference_mode():
            for b in range(0, len(single), self.batch_size):  # one token each: the prompts' last logits suffice
                chunk = single[b:b + self.batch_size]
                ids, mask, pos = self._batch([pairs[g[0]][0] for g in chunk])
                logp = self._forward(ids, mask, pos, keep=1)[:, -1].log_softmax(-1)
                for r, g in enumerate(chunk):
                    for k in g:
                        result[k] = [float(logp[r, pairs[k][1][0]])]
            for g in shared:
                if g not in single:
                    for k, lps in zip(g, self._score_shared(pairs[g[0]][0], [pairs[k][1] for k in g])):
                        result[k] = lps
            for b in range(0, len(order), self.batch_size):
                chunk = order[b:b + self.batch_size]
                seqs = [pairs[k][0] + pairs[k][1] for k in chunk]
                keep = max(len(pairs[k][1]) for k in chunk) + 1
                ids, mask, pos = self._batch(seqs)
                logits = self._forward(ids, mask, pos, keep=keep)
                logp = logits[:, -keep:, :].log_softmax(-1)
                for r, k in enumerate(chunk):
                    cont = pairs[k][1]
                    m = len(cont)  # token t of the continuation is predicted at column keep-1-m+t
                    cols = logp[r, keep - 1 - m: keep - 1]
                    target = torch.tensor(cont, device=cols.device)[:, None]
                    result[k] = cols.gather(1, target)[:, 0].tolist()
        return result

    def _score_shared(self, prompt: list[int], conts: list[list[int]]) -> list[list[float]]:
        """Continuations of one prompt: the prompt is run once and its cache repeated for each continuation."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        n, width = len(prompt), max(map(len, conts))
        first = self._forward(torch.tensor([prompt], device=self.device), torch.ones((1, n), dtype=torch.long,
                              device=self.device), torch.arange(n, device=self.device)[None], cache, keep=1)
        first = first[0, -1].log_softmax(-1)
        out: list[list[float]] = []
        for b in range(0, len(conts), self.batch_size):
            part = conts[b:b + self.batch_size]
            rows = cache if b + self.batch_size >= len(conts) else _copy_cache(cache)
            rows.batch_repeat_interleave(len(part))
            ids = torch.full((len(part), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(part), n + width), dtype=torch.long)
            mask[:, :n] = 1
            for r, c in enumerate(part):  # right-padded: a pad comes after every real token it could disturb
                ids[r, :len(c)] = torch.tensor(c, dtype=torch.long)
                mask[r, n:n + len(c)] = 1
            pos = (n + torch.arange(width))[None].expand(len(part), width)
            logp = self._forward(ids.to(self.device), mask.to(self.device), pos.to(self.device), rows
                                 ).log_softmax(-1)
            for r, c in enumerate(part):
                out.append([float(first[c[0]])] + [float(logp[r, t - 1, c[t]]) for t in range(1, len(c))])
        return out


def _copy_cache(cache):
    import copy

    return copy.deepcopy(cache)


def _sample(logits: torch.Tensor, temperature: float, top_p: float, gens) -> torch.Tensor:
    probs = (logits / temperature).softmax(-1)
    if top_p < 1:
        probs = nucleus(probs, top_p)
    return torch.cat([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(gens)])


def nucleus(probs: torch.Tensor, top_p: float, k: int = 1024) -> torch.Tensor:
    """`probs` with all but the smallest prefix (by probability) of mass >= top_p zeroed; the first token always
    kept. The top k are tried first: when they hold top_p, the prefix lies within them (a full sort of a 50k
    vocabulary costs more than the decoding step of a small model)."""
    sp, si = probs.topk(min(k, probs.shape[-1]), dim=-1)
    if not bool((sp.sum(-1) >= top_p).all()):
        sp, si = probs.sort(-1, descending=True)
    sp = sp * ((sp.cumsum(-1) - sp) < top_p)
    return torch.zeros_like(probs).scatter(-1, si, sp)


def _has_stop(text: str, stop: Sequence[str]) -> bool:
    return any(s in text for s in stop)


def _copy(c: Completion) -> Completion:
    return Completion(c.text, list(c.token_logprobs), list(c.tokens))


def _eos_ids(model, tokenizer) -> set[int]:
    ids = set()
    for v in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if isinstance(v, int):
            ids.add(v)
        elif isinstance(v, (list, tuple)):
            ids.update(int(x) for x in v)
    return ids
