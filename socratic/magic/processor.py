"""MAGiC as a transformers LogitsProcessor, for plain `model.generate(...)`.

Within the top-k it scores `(1-alpha) p(v) + beta softmax_k(s cos(I, T(v)))` (the confidence term and the CLIP
term of MAGiC) and sets every other token to -inf, so greedy generate picks MAGiC's choice.

What it leaves out: the degeneration penalty `-alpha max_j cos(h_v, h_j)`. A LogitsProcessor only sees the ids
and the scores; the penalty needs the hidden state of every candidate (one extra forward pass over the k
candidates), which only the full decode (`magic_decode`, or `generate(custom_generate=magic_generate)`) runs.
So with alpha > 0 this is not MAGiC's output; with alpha == 0 it is (same tokens as the full decode). Also
unlike the reference, generate stops a row at end-of-text unless told otherwise; the caption is the same.
Ties between equal scores go to the lower token id (generate's argmax over the vocabulary), not the LM's rank.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from transformers import LogitsProcessor

from ..errors import SocraticError
from .clip_text import ClipTokens, HeadState, PrefixTextEncoder
from .decode import image_batch
from .lm_text import LmText


class MagicLogitsProcessor(LogitsProcessor):
    """Top-k restriction + MAGiC's confidence and image terms. Images are embedded once, at construction.

    Rows of the generate batch map to images in order; `num_return_sequences`/`num_beams` copies (generate's
    `repeat_interleave` expansion) share their image. The processor follows one generate call at a time and
    notices a new one by itself (the ids stop extending the previous call's).
    """

    def __init__(self, clip_model: Any, clip_tokenizer: Any, lm_tokenizer: Any, *,
                 images: Sequence[Any] | None = None, preprocess: Any = None,
                 image_embeds: torch.Tensor | None = None, k: int = 45, alpha: float = 0.1, beta: float = 2.0,
                 clip_window: int = 60, logit_scale: float | None = None, share_clip_prefix: bool = True):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise SocraticError(f"k must be a positive integer, got {k!r}", field="k")
        if not 0.0 <= float(alpha) <= 1.0 or float(beta) < 0:
            raise SocraticError(f"need 0 <= alpha <= 1 and beta >= 0, got alpha={alpha}, beta={beta}",
                                field="alpha")
        self.k, self.alpha, self.beta, self.window = k, float(alpha), float(beta), clip_window
        self.clip_model, self.clip_tokenizer, self.lm_tokenizer = clip_model, clip_tokenizer, lm_tokenizer
        self.share = share_clip_prefix
        self.img = image_batch(clip_model, images, preprocess, image_embeds)
        self.scale = float(clip_model.logit_scale.detach().exp()) if logit_scale is None else float(logit_scale)
        self.lm_text = LmText(lm_tokenizer, clip_window)
        self.clip_tok = ClipTokens(clip_tokenizer)
        self._seen: torch.Tensor | None = None

    def _reset(self, rows: int, device: torch.device) -> None:
        self.rows = [self.lm_text.new_row() for _ in range(rows)]
        self.heads = [HeadState() for _ in range(rows)]
        self.enc = PrefixTextEncoder(self.clip_model, rows, device, self.clip_tok.context_length, self.share)
        self._cand: list[list[int]] | None = None
        self._lists: list[list[list[int]]] | None = None

    @torch.no_grad()
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n_rows, vocab = scores.shape
        k = self.k
        if k > vocab:
            raise SocraticError(f"k={k} exceeds the vocabulary size {vocab}", field="k")
        n_img = self.img.shape[0]
        if n_rows % n_img:
            raise SocraticError(f"{n_rows} generate rows for {n_img} images: give one image per prompt",
                                field="image")
        top_ids = scores.topk(k, dim=-1).indices
        top_p = scores.float().softmax(-1).gather(1, top_ids)
        value = (1.0 - self.alpha) * top_p
        if self.beta:
            if self.img.device != scores.device:
                raise SocraticError(f"the CLIP model is on {self.img.device} but the LM's scores on "
                                    f"{scores.device}; move them to the same device", field="vlm")
            value = value + self.beta * self._clip_term(input_ids, top_ids, n_rows // n_img)
        out = torch.full_like(scores, -float("inf"))
        return out.scatter(1, top_ids, value.to(scores.dtype))

    def _clip_term(self, input_ids: torch.Tensor, top_ids: torch.Tensor, rep: int) -> torch.Tensor:
        B, k = top_ids.shape
        seen = self._seen
        cont = seen is not None and seen.shape[0] == B and input_ids.shape[1] == seen.shape[1] + 1
        if cont:
            same = (input_ids[:, :-1] == seen).all().long().view(1)
            host = torch.cat([same, input_ids[:, -1], top_ids.reshape(-1)]).tolist()  # the one sync
            cont, chosen, host = bool(host[0]), host[1:B + 1], host[B + 1:]
        else:
            host = top_ids.reshape(-1).tolist()
        if not cont:
            self._reset(B, top_ids.device)
        else:
            commit = []
            for r in range(B):
                self.lm_text.advance(self.rows[r], chosen[r])
                lst = None
                if chosen[r] in self._cand[r]:
                    lst = self._lists[r][self._cand[r].index(chosen[r])]
                    lst = lst[: self.enc.tower.pool_index(lst)] if self.enc.fast else lst
                commit.append(lst)
            self.enc.commit(commit)
        cand = [host[r * k:(r + 1) * k] for r in range(B)]
        lists = []
        for r in range(B):
            texts = self.lm_text.candidates(self.rows[r], cand[r])
            self.clip_tok.advance(self.heads[r], self.lm_text.prefix(self.rows[r]))
            lists.append([self.clip_tok.encode(x, self.heads[r]) for x in texts])
        emb = self.enc.encode(lists)
        img = self.img.to(emb.device).repeat_interleave(rep, dim=0)
        cos = torch.einsum("bkd,bd->bk", emb, img)
        self._cand, self._lists, self._seen = cand, lists, input_ids.clone()
        return (self.scale * cos).softmax(-1)

