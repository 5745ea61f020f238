"""The full MAGiC decode (Su et al. 2022), batched, with the degeneration penalty.

At each step, with V_k the LM's top-k next tokens:

    x_t = argmax_{v in V_k} (1-alpha) p(v) - alpha max_j cos(h_v, h_j) + beta softmax_{V_k}(s * cos(I, T(v)))

`p` is the softmax over the whole vocabulary; `h_v` the last-layer hidden state the LM gives v appended (all k
candidates in one forward pass over the shared key/value cache); `h_j` every earlier position's (prompt and
generated; left padding excluded); `T(v)` CLIP's embedding of the decoded last `clip_window` generated ids plus v
(the prompt excluded); `s` CLIP's exp'd logit scale. Ties go to the candidate the LM ranks first.

Everything stays on the model's device. The per-step host transfer is of the k candidate ids (and the
previous choice) that CLIP's text tokenisation needs; with beta == 0 there is none. alpha == 0 skips the
candidate pass (one token forward after the choice); beta == 0 skips CLIP.

Work skipped or done faster, same formula: candidates whose score without the penalty is more than 2 alpha
below the best cannot win (the penalty lies in [-alpha, alpha]) and skip the candidate pass (`skip_losers`; on
CPU by default, as it costs a second host sync a step). GPT-2 models run the candidate pass layer by layer
(`gpt2_candidates`), and on CPU float32 the per-step matmuls use weights reordered once for oneDNN
(`packed_matmuls`, see `packed_linear`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..errors import SocraticError
from ..models.hf_forward import accepts, cache_arg
from .clip_text import ClipTokens, HeadState, PrefixTextEncoder
from .gpt2_candidates import Gpt2Candidates, unsupported
from .lm_text import LmText
from .packed_linear import linear, use_packed

START_TEXT = "<-start_of_text->"


@dataclass
class MagicOutput:
    captions: list[str]
    token_ids: list[list[int]]   # generated ids per row (prompt excluded), all steps


# ------------------------------------------------------------------------------------------------------
# checks shared by every entry point
# ------------------------------------------------------------------------------------------------------

def vocab_size(model: Any) -> int:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    w = getattr(head, "weight", None)
    if w is not None:
        return int(w.shape[0])
    return int(model.config.get_text_config().vocab_size)


def check_hparams(model: Any, k: Any, alpha: Any, beta: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int):
        raise SocraticError(f"k must be an integer, got {k!r}", field="k")
    v = vocab_size(model)
    if not 1 <= k <= v:
        raise SocraticError(f"k must be between 1 and the vocabulary size {v}, got {k}", field="k")
    for name, val in (("alpha", alpha), ("beta", beta)):
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
            raise SocraticError(f"{name} must be a finite number, got {val!r}", field=name)
    if not 0.0 <= alpha <= 1.0:
        raise SocraticError(f"alpha must be in [0, 1], got {alpha}", field="alpha")
    if beta < 0:
        raise SocraticError(f"beta must be >= 0, got {beta}", field="beta")


def model_device(module: Any) -> torch.device:
    dev = getattr(module, "device", None)
    if isinstance(dev, torch.device):
        return dev
    return next(module.parameters()).device


def check_devices(model: Any, clip_model: Any) -> torch.device:
    dev, cdev = model_device(model), model_device(clip_model)
    if dev != cdev:
        raise SocraticError(f"the CLIP model is on {cdev} but the LM on {dev}: MAGiC scores both on one device; "
                            f"move them to the same device", field="vlm")
    return dev


@torch.no_grad()
def encode_images(clip_model: Any, preprocess: Any, images: Sequence[Any]) -> torch.Tensor:
    """L2-normalised float32 CLIP image embeddings, (n, D), on the CLIP model's device (computed once)."""
    if preprocess is None:
        raise SocraticError("images given without the CLIP preprocess transform", field="preprocess")
    dev = model_device(clip_model)
    pix = torch.stack([preprocess(im) for im in images]).to(dev)
    dtype = next(clip_model.visual.parameters()).dtype
    emb = clip_model.encode_image(pix.to(dtype))
    return torch.nn.functional.normalize(emb.float(), dim=-1)


def image_batch(clip_model: Any, images: Sequence[Any] | None, preprocess: Any,
                image_embeds: torch.Tensor | None) -> torch.Tensor:
    if image_embeds is None:
        if images is None or len(images) == 0:
            raise SocraticError("no images given (an empty image list)", field="image")
        return encode_images(clip_model, preprocess, images)
    if image_embeds.ndim != 2 or image_embeds.shape[0] == 0:
        raise SocraticError(f"image_embeds must be (n_images > 0, dim), got {tuple(image_embeds.shape)}",
                            field="image_embeds")
    return torch.nn.functional.normalize(image_embeds.float(), dim=-1)


# ------------------------------------------------------------------------------------------------------
# the loop
# ------------------------------------------------------------------------------------------------------

def _unit(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    return x / x.norm(dim=-1, keepdim=True)


class _Candidates:
    """The forward pass over the k candidates of every row, on the shared cache ("tree") or a k-fold copy."""

    def __init__(self, model: Any, cache: Any, mode: str, packed: bool | str = "auto"):
        self.model, self.cache = model, cache
        impl = getattr(model.config, "_attn_implementation", None)
        layers = getattr(cache, "layers", None) or [None]
        plain = all(type(layer).__name__ == "DynamicLayer" and getattr(layer, "is_initialized", False)
                    for layer in layers)
        tree_ok = plain and impl in ("sdpa", "eager")
        if mode == "auto":
            mode = "tree" if tree_ok else "expand"
        elif mode == "tree" and not tree_ok:
            raise SocraticError(f"candidates='tree' needs a plain dynamic cache and sdpa/eager attention "
                                f"(attention: {impl})", field="candidates")
        self.mode = mode
        self.own = Gpt2Candidates(model, packed) if mode == "tree" and not unsupported(model) else None
        self.keep = accepts(model, "logits_to_keep")
        self.cache_kw = {cache_arg(model): cache}
        self._k = 1

    def forward(self, top_ids: torch.Tensor, mask2d: torch.Tensor, next_pos: torch.Tensor, want_logits: bool):
        """Hidden states (B, k, E) of the candidates, and their logits (B, k, V) when `want_logits`."""
        B, k = top_ids.shape
        model, cache = self.model, self.cache
        self._k = k
        extra = {}
        if self.keep:
            extra["logits_to_keep"] = 0 if want_logits else torch.empty(0, dtype=torch.long, device=top_ids.device)
        if self.mode == "tree":
            past = mask2d.shape[1]
            allowed = torch.cat([mask2d.bool()[:, None, :].expand(B, k, past),
                                 torch.eye(k, dtype=torch.bool, device=top_ids.device).expand(B, k, k)], dim=-1)
            if self.own is not None and not want_logits:
                return self.own(top_ids, next_pos[:, None].expand(B, k), _additive(allowed[:, None], model),
                                cache), None
            out = model(input_ids=top_ids, attention_mask=_additive(allowed[:, None], model),
                        position_ids=next_pos[:, None].expand(B, k),
                        use_cache=True, output_hidden_states=True, **self.cache_kw, **extra)
            h = out.hidden_states[-1]
            logits = out.logits if want_logits else None
        else:
            cache.batch_repeat_interleave(k)
            m = torch.cat([mask2d.repeat_interleave(k, 0), mask2d.new_ones(B * k, 1)], dim=1)
            out = model(input_ids=top_ids.reshape(B * k, 1), attention_mask=m,
                        position_ids=next_pos.repeat_interleave(k)[:, None], use_cache=True,
                        output_hidden_states=True, **self.cache_kw, **extra)
            h = out.hidden_states[-1][:, -1].reshape(B, k, -1)
            logits = out.logits[:, -1].reshape(B, k, -1) if want_logits else None
        return h, logits

    def keep_chosen(self, sel: torch.Tensor, past: int) -> None:
        """Drop the other candidates' keys/values: the cache ends with each row's chosen candidate."""
        B = sel.shape[0]
        if self.mode == "expand":
            self.cache.batch_select_indices(torch.arange(B, device=sel.device) * self._k + sel)
            return
        for layer in self.cache.layers:
            for name in ("keys", "values"):
                t = getattr(layer, name)
                _, H, _, D = t.shape
                chosen = t.gather(2, (past + sel).view(B, 1, 1, 1).expand(B, H, 1, D))
                t[:, :, past: past + 1] = chosen
                setattr(layer, name, t[:, :, : past + 1])


def _contenders(score: torch.Tensor, alpha: float) -> torch.Tensor | None:
    """Columns of the candidates that can still win once the penalty is known, or None for all.

    The penalty alpha * max cos lies in [-alpha, alpha], so a candidate whose score without it is more than
    2 alpha below the best such score loses whatever its hidden state. Kept columns come first, in the LM's
    order; rows of a batch are padded with their best-ranked losers (real candidates, so their scores hold).
    """
    k = score.shape[1]
    cut = score.max(-1, keepdim=True).values - (2 * alpha + _MARGIN)
    keep = score >= cut
    n = int(keep.sum(-1).max())  # the step's second host sync (the shape of the candidate pass)
    if n == k:
        return None
    order = torch.argsort((~keep).to(torch.int8), dim=-1, stable=True)
    return order[:, :n]


_MARGIN = 1e-4  # slack for rounding in the cosine (|cos| may exceed 1 by a few ulps)


def _additive(allowed: torch.Tensor, model: Any) -> torch.Tensor:
    """A boolean (B, 1, q, kv) mask as the additive float mask eager and sdpa attention both take."""
    dtype = model.dtype if model.dtype.is_floating_point else torch.float32
    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)


@torch.no_grad()
def magic_search(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                 clip_model: Any = None, clip_tokenizer: Any = None, lm_tokenizer: Any = None,
                 image_embeds: torch.Tensor | None = None, steps: int, k: int = 45, alpha: float = 0.1,
                 beta: float = 2.0, logit_scale: float | None = None, clip_window: int = 60,
                 stop_at_eos: bool = False, eos_token_id: int | None = None, pad_token_id: int | None = None,
                 candidates: str = "auto", share_clip_prefix: bool = True, skip_losers: bool | str = "auto",
                 packed_matmuls: bool | str = "auto", logits_processor: Any = None,
                 stats: dict | None = None) -> torch.Tensor:
    """MAGiC-decode `steps` tokens after `input_ids` (left-padded). Returns the generated ids, (B, steps).

    `image_embeds` (B, D) need not be normalised. With beta == 0 no CLIP argument is needed.
    `skip_losers` / `packed_matmuls`: True, False or "auto" (see the module's docstring).
    """
    check_hparams(model, k, alpha, beta)
    dev = model_device(model)
    if steps < 0:
        raise SocraticError(f"nothing to generate: {steps} steps", field="decoding_len")
    input_ids = input_ids.to(dev)
    B, L = input_ids.shape
    if B == 0:
        raise SocraticError("empty batch", field="image")
    if beta:
        if clip_model is None or clip_tokenizer is None or lm_tokenizer is None or image_embeds is None:
            raise SocraticError("beta > 0 needs clip_model, clip_tokenizer, lm_tokenizer and image_embeds",
                                field="beta")
        check_devices(model, clip_model)
        img = torch.nn.functional.normalize(image_embeds.float().to(dev), dim=-1)
        if img.shape[0] != B:
            raise SocraticError(f"{img.shape[0]} images but {B} prompts", field="image")
        if logit_scale is None:
            logit_scale = float(clip_model.logit_scale.detach().exp())
    for name, val in (("skip_losers", skip_losers), ("packed_matmuls", packed_matmuls)):
        if not isinstance(val, bool) and val != "auto":
            raise SocraticError(f"{name} must be true, false or 'auto', got {val!r}", field=name)
    if stop_at_eos and eos_token_id is None:
        raise SocraticError("stop_at_eos needs an end-of-text token id", field="stop_at_eos")
    pad = pad_token_id if pad_token_id is not None else eos_token_id

    from transformers import DynamicCache

    mask2d = (attention_mask.to(dev).long() if attention_mask is not None
              else torch.ones(B, L, dtype=torch.long, device=dev))
    pos = mask2d.cumsum(-1) - 1
    pos.masked_fill_(mask2d == 0, 1)
    cache = DynamicCache(config=model.config)
    if candidates not in ("auto", "tree", "expand"):
        raise SocraticError(f"candidates must be auto, tree or expand, got {candidates!r}", field="candidates")
    keep1 = {"logits_to_keep": 1} if accepts(model, "logits_to_keep") else {}
    cache_kw = {cache_arg(model): cache}
    out = model(input_ids=input_ids, attention_mask=mask2d, position_ids=pos, use_cache=True,
                output_hidden_states=alpha != 0, **cache_kw, **keep1)
    cands = _Candidates(model, cache, candidates, packed_matmuls)
    logits = out.logits[:, -1]
    next_pos = mask2d.sum(-1)
    head = model.get_output_embeddings()
    if isinstance(head, torch.nn.Linear):
        head = linear(head, "w", head.weight, head.bias, mode=packed_matmuls)
    head_ok = False
    if alpha:
        last = out.hidden_states[-1]
        ctx = _unit(last)                       # (B, L, E)
        ctx_ok = mask2d.bool()
        if head is not None:
            ref = logits.float()
            head_ok = torch.allclose(head(last[:, -1]).float(), ref, rtol=1e-3,
                                     atol=1e-3 * float(ref.abs().max().clamp_min(1.0)))
    del out

    gen = torch.empty(B, steps, dtype=torch.long, device=dev)
    if beta:
        lm_text = LmText(lm_tokenizer, clip_window)
        clip_tok = ClipTokens(clip_tokenizer)
        enc = PrefixTextEncoder(clip_model, B, dev, clip_tok.context_length, share_clip_prefix, packed_matmuls)
        rows = [lm_text.new_row() for _ in range(B)]
        heads = [HeadState() for _ in range(B)]
        prev_lists: list[list[list[int]]] | None = None
        prev_cand: list[list[int]] | None = None
    finished = torch.zeros(B, dtype=torch.bool, device=dev)
    lm_positions = 0  # candidate positions put through the LM, per row
    if skip_losers == "auto":
        skip_losers = dev.type == "cpu"
    cur_ids = input_ids
    tok = None
    done_at = steps
    for t in range(steps):
        if stop_at_eos and t and bool(finished.all()):  # the option's one extra sync per step
            done_at = t
            break
        if logits_processor is not None:
            cur_ids = torch.cat([input_ids, gen[:, :t]], dim=1)
            logits = logits_processor(cur_ids, logits)
        logits = logits.float()
        top_ids = logits.topk(k, dim=-1).indices
        top_p = logits.softmax(-1).gather(1, top_ids)
        score = (1.0 - alpha) * top_p
        if beta:
            # the one host transfer of the step: last choice + this step's candidates
            flat = top_ids.reshape(-1) if tok is None else torch.cat([tok, top_ids.reshape(-1)])
            host = flat.tolist()
            if tok is not None:
                chosen, host = host[:B], host[B:]
                commit = []
                for r in range(B):
                    lm_text.advance(rows[r], chosen[r])
                    j = prev_cand[r].index(chosen[r]) if chosen[r] in prev_cand[r] else None
                    lst = prev_lists[r][j] if j is not None else None
                    commit.append(None if lst is None else lst[: enc.tower.pool_index(lst)] if enc.fast else lst)
                enc.commit(commit)
            cand = [host[r * k:(r + 1) * k] for r in range(B)]
            lists = []
            for r in range(B):
                texts = lm_text.candidates(rows[r], cand[r])
                clip_tok.advance(heads[r], lm_text.prefix(rows[r]))
                lists.append([clip_tok.encode(x, heads[r]) for x in texts])
            emb = enc.encode(lists)                                   # (B, k, D)
            cos = torch.einsum("bkd,bd->bk", emb, img)
            score = score + beta * (logit_scale * cos).softmax(-1)
            prev_lists, prev_cand = lists, cand
        if alpha:
            past = mask2d.shape[1]
            sub = _contenders(score, alpha) if skip_losers else None  # (B, n) candidate columns, or all k
            ids = top_ids if sub is None else top_ids.gather(1, sub)
            h, cand_logits = cands.forward(ids, mask2d, next_pos, want_logits=not head_ok)
            lm_positions += ids.shape[1]
            hn = _unit(h)                                             # (B, n, E)
            sim = torch.einsum("bke,ble->bkl", hn, ctx).masked_fill(~ctx_ok[:, None, :], -math.inf)
            if sub is None:
                score = score - alpha * sim.max(-1).values
            else:
                part = score.gather(1, sub) - alpha * sim.max(-1).values
                score = torch.full_like(score, -math.inf).scatter_(1, sub, part)
        sel = score.argmax(-1)                                        # first max: the LM's order breaks ties
        tok = top_ids.gather(1, sel[:, None]).squeeze(1)
        if stop_at_eos:
            tok = torch.where(finished, torch.full_like(tok, pad), tok)
            finished |= tok == eos_token_id
        gen[:, t] = tok
        if alpha:
            at = sel if sub is None else (sub == sel[:, None]).int().argmax(-1)  # the choice's column in the pass
            h_sel = h.gather(1, at.view(B, 1, 1).expand(B, 1, h.shape[-1])).squeeze(1)
            cands.keep_chosen(at, past)
            if head_ok:
                logits = head(h_sel)
            else:
                logits = cand_logits.gather(1, at.view(B, 1, 1).expand(B, 1, cand_logits.shape[-1])).squeeze(1)
            ctx = torch.cat([ctx, _unit(h_sel)[:, None]], dim=1)
            ctx_ok = torch.cat([ctx_ok, ctx_ok.new_ones(B, 1)], dim=1)
            mask2d = torch.cat([mask2d, mask2d.new_ones(B, 1)], dim=1)
        else:
            mask2d = torch.cat([mask2d, mask2d.new_ones(B, 1)], dim=1)
            # a ready 4D mask where custom masks work: transformers then builds none (no host sync)
            mask = _additive(mask2d.bool()[:, None, None, :], model) if cands.mode == "tree" else mask2d
            out = model(input_ids=tok[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                        use_cache=True, **cache_kw, **keep1)
            logits = out.logits[:, -1]
        next_pos = next_pos + 1
    if done_at < steps:
        gen[:, done_at:] = pad
    if stats is not None:
        stats.update(candidates=cands.mode if alpha else "none", head=head_ok, lm_positions=lm_positions,
                     lm_pass="own" if alpha and cands.own else "model",
                     packed=use_packed(next(model.parameters()), packed_matmuls))
        if beta:
            stats.update(clip_tokens=dict(clip_tok.stats), clip_positions=enc.tokens_run,
                         lm_text=lm_text.strategy, clip_shared=enc.fast)
    return gen


# ------------------------------------------------------------------------------------------------------
# user-facing entry points
# ------------------------------------------------------------------------------------------------------

def _pad_id(tokenizer: Any) -> int:
    """The pad id; a tokenizer without one pads with its end-of-text id (pads are masked out anyway)."""
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id)
    raise SocraticError("the LM tokenizer has neither a pad nor an end-of-text token, so prompts of different "
                        "lengths cannot be batched; set tokenizer.pad_token", field="lm")


def encode_prompts(tokenizer: Any, prompts: Sequence[str], add_special_tokens: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor, list[list[int]]]:
    """Left-padded ids and mask for the prompts; also each prompt's ids."""
    ids = [tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"] for p in prompts]
    for p, i in zip(prompts, ids):
        if not i:
            raise SocraticError(f"prompt {p!r} tokenises to nothing; MAGiC needs a start token or prompt",
                                field="start_text")
    width = max(len(i) for i in ids)
    pad = _pad_id(tokenizer) if any(len(i) != width for i in ids) else 0
    x = torch.full((len(ids), width), pad, dtype=torch.long)
    m = torch.zeros((len(ids), width), dtype=torch.long)
    for r, i in enumerate(ids):
        x[r, width - len(i):] = torch.tensor(i)
        m[r, width - len(i):] = 1
    return x, m, ids


def parse_caption(tokenizer: Any, ids: Sequence[int], start_ids: Sequence[int] = (),
                  eos_token_id: int | None = None) -> str:
    """Cut at the first end-of-text id, drop start-token ids, decode, strip, collapse whitespace."""
    out = []
    skip = set(start_ids) if len(start_ids) == 1 else set()
    for i in ids:
        if eos_token_id is not None and i == eos_token_id:
            break
        if i not in skip:
            out.append(int(i))
    return " ".join(tokenizer.decode(out).split())


def magic_decode(lm_model: Any, lm_tokenizer: Any, clip_model: Any, clip_tokenizer: Any, *,
                 images: Sequence[Any] | None = None, preprocess: Any = None,
                 image_embeds: torch.Tensor | None = None, prompts: str | Sequence[str] | None = None,
                 start_text: str = START_TEXT, k: int = 45, alpha: float = 0.1, beta: float = 2.0,
                 decoding_len: int = 16, max_new_tokens: int | None = None, clip_window: int = 60,
                 stop_at_eos: bool = False, add_special_tokens: bool = False, candidates: str = "auto",
                 share_clip_prefix: bool = True, skip_losers: bool | str = "auto",
                 packed_matmuls: bool | str = "auto", logit_scale: float | None = None,
                 eos_token_id: int | None = None, stats: dict | None = None) -> MagicOutput:
    """Caption images with MAGiC. Defaults are the reference COCO setting (k=45, alpha=0.1, beta=2.0, 16).

    `decoding_len` counts the prompt, as in the reference (16 with the one start token = 15 new tokens);
    `max_new_tokens`, when given, sets the number of new tokens instead. `prompts` (one string, or one per image)
    replaces `start_text`. Every step runs; the caption is cut at the first end-of-text token
    (`stop_at_eos=True` stops once every row has ended: same captions, less work).
    """
    check_hparams(lm_model, k, alpha, beta)
    if images is not None and len(images) == 0 or image_embeds is not None and image_embeds.shape[0] == 0:
        raise SocraticError("no images given (an empty image list)", field="image")
    check_devices(lm_model, clip_model)
    img = image_batch(clip_model, images, preprocess, image_embeds)
    n = img.shape[0]
    if prompts is None:
        prompts = [start_text] * n
    elif isinstance(prompts, str):
        prompts = [prompts] * n
    elif len(prompts) != n:
        raise SocraticError(f"{n} images but {len(prompts)} prompts: give one prompt, or one per image",
                            field="prompt")
    ids, mask, prompt_ids = encode_prompts(lm_tokenizer, list(prompts), add_special_tokens)
    lens = [len(p) for p in prompt_ids]
    if max_new_tokens is not None:
        per_row = [int(max_new_tokens)] * n
    else:
        per_row = [decoding_len - x for x in lens]
    if min(per_row) < 1:
        raise SocraticError(f"decoding_len {decoding_len} leaves no token to generate after a prompt of "
                            f"{max(lens)} tokens", field="decoding_len")
    eos = lm_tokenizer.eos_token_id if eos_token_id is None else eos_token_id
    gen = magic_search(lm_model, ids, mask, clip_model=clip_model, clip_tokenizer=clip_tokenizer,
                       lm_tokenizer=lm_tokenizer, image_embeds=img, steps=max(per_row), k=k, alpha=alpha,
                       beta=beta, logit_scale=logit_scale, clip_window=clip_window, stop_at_eos=stop_at_eos,
                       eos_token_id=eos, pad_token_id=lm_tokenizer.pad_token_id, candidates=candidates,
                       share_clip_prefix=share_clip_prefix, skip_losers=skip_losers,
                       packed_matmuls=packed_matmuls, stats=stats).tolist()
    token_ids = [row[:s] for row, s in zip(gen, per_row)]
    captions = [parse_caption(lm_tokenizer, row, p, eos) for row, p in zip(token_ids, prompt_ids)]
    return MagicOutput(captions, token_ids)


def magic_generate(model: Any, input_ids: torch.Tensor, logits_processor: Any = None, stopping_criteria: Any = None,
                   generation_config: Any = None, synced_gpus: bool = False, streamer: Any = None, *,
                   clip_model: Any = None, clip_tokenizer: Any = None, lm_tokenizer: Any = None,
                   images: Sequence[Any] | None = None, clip_preprocess: Any = None,
                   image_embeds: torch.Tensor | None = None, k: int = 45, alpha: float = 0.1, beta: float = 2.0,
                   clip_window: int = 60, stop_at_eos: bool = False, candidates: str = "auto",
                   **model_kwargs: Any) -> Any:
    """`model.generate(input_ids, custom_generate=magic_generate, clip_model=..., ...)`.

    The number of new tokens follows generate's `max_length`/`max_new_tokens` (`max_length` counts the prompt,
    like MAGiC's `decoding_len`). Logits processors from the generation config are applied before the softmax
    (none by default). Returns the sequences (prompt + new ids), or a `GenerateDecoderOnlyOutput` when
    `return_dict_in_generate=True`. No streaming (transformers does not pass a streamer to a callable
    custom_generate).
    """
    if streamer is not None:
        raise SocraticError("MAGiC's custom_generate does not stream; call it without a streamer", field="streamer")
    if beta:
        check_devices(model, clip_model)
        img = image_batch(clip_model, images, clip_preprocess, image_embeds)
        if img.shape[0] != input_ids.shape[0]:
            raise SocraticError(f"{img.shape[0]} images but {input_ids.shape[0]} prompts", field="image")
    else:
        img = None
    past = model_kwargs.get("past_key_values", model_kwargs.get("cache"))
    if past is not None and hasattr(past, "get_seq_length") and past.get_seq_length() > 0:
        raise SocraticError("MAGiC starts from the prompt: a pre-filled cache is not supported",
                            field="past_key_values")
    steps = int(generation_config.max_length) - input_ids.shape[1]
    eos = generation_config.eos_token_id
    if isinstance(eos, (list, tuple)):
        eos = eos[0] if eos else None
    if eos is None and lm_tokenizer is not None:
        eos = lm_tokenizer.eos_token_id
    processors = logits_processor if logits_processor else None
    gen = magic_search(model, input_ids, model_kwargs.get("attention_mask"), clip_model=clip_model,
                       clip_tokenizer=clip_tokenizer, lm_tokenizer=lm_tokenizer, image_embeds=img, steps=steps,
                       k=k, alpha=alpha, beta=beta, clip_window=clip_window, stop_at_eos=stop_at_eos,
                       eos_token_id=eos, pad_token_id=generation_config.pad_token_id, candidates=candidates,
                       logits_processor=processors)
    seq = torch.cat([input_ids.to(gen.device), gen], dim=1)
    if generation_config.return_dict_in_generate:
        from transformers.generation.utils import GenerateDecoderOnlyOutput

        return GenerateDecoderOnlyOutput(sequences=seq)
    return seq
