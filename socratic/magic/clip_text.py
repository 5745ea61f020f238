"""CLIP side of MAGiC: exact incremental tokenisation and a prefix-sharing text encoder.

`ClipTokens` gives, for texts that share a prefix, the very token ids `open_clip`'s tokenizer gives from
scratch. The shortcut is taken only where it is provably the same: both the cached head (the prefix up to its
last space) and the rest are "plain" text (printable ASCII without `&`), on which ftfy, html unescaping and
whitespace cleaning are the identity up to whitespace collapsing and lower-casing, and on which the CLIP regex
never matches across a space. Anything else is tokenised from scratch. Truncation to the context length is the
tokenizer's own rule applied to the same full id list.

`PrefixTextEncoder` runs CLIP's causal text transformer once per distinct token of a step: the k candidate
texts of a row form a trie rooted at a committed prefix whose keys/values are kept across steps, and one
attention call per layer serves every node (each attends to its ancestors). The embedding of a text is read at
its pooling position (its first end-of-text token), as `encode_text` does; positions after it cannot change it
because the mask is causal. Models this does not recognise fall back to `encode_text` on full 77-token rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .packed_linear import linear


def is_plain(text: str) -> bool:
    """Printable ASCII without '&': text that CLIP's cleaning leaves alone except for spaces and case."""
    return text.isascii() and text.isprintable() and "&" not in text


@dataclass
class HeadState:
    """Per row: the prefix's head (up to its last space) and its CLIP token ids (no start/end tokens)."""

    head: str = ""
    ids: list[int] = field(default_factory=list)


class ClipTokens:
    """Exact CLIP token ids (with start/end tokens, truncated) for texts sharing a cached head."""

    def __init__(self, tokenizer: Any, context_length: int | None = None):
        self.tok = tokenizer
        self.context_length = int(context_length or getattr(tokenizer, "context_length", None) or 77)
        self.incremental = _is_plain_simple_tokenizer(tokenizer)
        if self.incremental:
            self.sot, self.eot = tokenizer.sot_token_id, tokenizer.eot_token_id
        else:
            self.sot = self.eot = None
        self._words: dict[str, list[int]] = {}
        self.stats = {"incremental": 0, "scratch": 0}

    # -- from scratch -------------------------------------------------------------------------------
    def scratch(self, text: str) -> list[int]:
        """The tokenizer's own result for one text, without padding."""
        if self.incremental:
            return self._frame(self.tok.encode(text))
        row = self.tok([text], context_length=self.context_length)[0].tolist()
        return _strip_padding(row)

    # -- incremental ---------------------------------------------------------------------------------
    def _encode_plain(self, text: str) -> list[int]:
        out: list[int] = []
        for word in text.lower().split():
            ids = self._words.get(word)
            if ids is None:
                ids = self._words[word] = self.tok.encode(word)
            out.extend(ids)
        return out

    def _frame(self, body: list[int]) -> list[int]:
        toks = [self.sot, *body, self.eot]
        if len(toks) > self.context_length:
            toks = toks[: self.context_length]
            toks[-1] = self.eot
        return toks

    def encode(self, text: str, state: HeadState) -> list[int]:
        """Token ids of `text`; uses the cached head of `state` when that is provably exact."""
        if self.incremental:
            h = len(state.head)
            if text.startswith(state.head) and (h == 0 or text[h:h + 1] in ("", " ")) and is_plain(text[h:]):
                self.stats["incremental"] += 1
                return self._frame(state.ids + self._encode_plain(text[h:]))
        self.stats["scratch"] += 1
        return self.scratch(text)

    def advance(self, state: HeadState, prefix: str) -> None:
        """Move the head to `prefix`'s last space (the next step's texts all start with `prefix`)."""
        if not self.incremental:
            return
        cut = prefix.rfind(" ")
        head = prefix[:cut] if cut > 0 else ""
        if head == state.head:
            return
        if not is_plain(head):
            state.head, state.ids = "", []
            return
        h = len(state.head)
        if head.startswith(state.head) and (h == 0 or head[h] == " "):
            state.ids = state.ids + self._encode_plain(head[h:])
        else:
            state.ids = self._encode_plain(head)
        state.head = head


def _is_plain_simple_tokenizer(tok: Any) -> bool:
    try:
        from open_clip.tokenizer import SimpleTokenizer, _clean_lower
    except ImportError:  # pragma: no cover - open_clip is a dependency
        return False
    return (isinstance(tok, SimpleTokenizer) and getattr(tok, "clean_fn", None) is _clean_lower
            and getattr(tok, "reduction_fn", None) is None)


def _strip_padding(row: list[int]) -> list[int]:
    end = len(row)
    while end > 0 and row[end - 1] == 0:
        end -= 1
    return row[:end]


# ------------------------------------------------------------------------------------------------------
# Text encoder
# ------------------------------------------------------------------------------------------------------

class TextTower:
    """The pieces of an open_clip causal text tower, or `supported=False` with the reason."""

    def __init__(self, clip_model: Any):
        self.model = clip_model
        src = clip_model
        text = getattr(clip_model, "text", None)
        if text is not None and hasattr(text, "token_embedding"):
            src = text  # CustomTextCLIP with a TextTransformer
        self.reason = ""
        try:
            self.token_embedding = src.token_embedding
            self.positional_embedding = src.positional_embedding
            self.blocks = list(src.transformer.resblocks)
            self.ln_final = src.ln_final
            self.text_projection = src.text_projection
            self.attn_mask = getattr(src, "attn_mask", None)
            self.pool_type = getattr(src, "text_pool_type", None) or getattr(src, "pool_type", None)
            self.eos_id = getattr(src, "text_eos_id", None) or getattr(src, "eos_id", None)
            self.cast_dtype = src.transformer.get_cast_dtype()
        except AttributeError as exc:
            self.supported, self.reason = False, f"unrecognised text tower ({exc})"
            return
        self.supported, self.reason = self._check(src)
        if self.supported:
            attn = self.blocks[0].attn
            self.heads = attn.num_heads
            self.width = attn.embed_dim

    def _check(self, src: Any) -> tuple[bool, str]:
        from open_clip.transformer import ResidualAttentionBlock

        if self.attn_mask is None:
            return False, "text encoder is not causal"
        if getattr(src, "cls_emb", None) is not None or getattr(src, "use_pad_mask", False):
            return False, "text encoder uses a class token or a padding mask"
        if self.pool_type not in ("argmax", "eos"):
            return False, f"text pooling {self.pool_type!r}"
        if self.pool_type == "eos" and self.eos_id is None:
            return False, "eos pooling without an eos id"
        for blk in self.blocks:
            attn = getattr(blk, "attn", None)
            if type(blk) is not ResidualAttentionBlock or hasattr(blk, "ln_1_kv"):
                return False, f"text block {type(blk).__name__}"
            if not isinstance(attn, torch.nn.MultiheadAttention) or not attn._qkv_same_embed_dim:
                return False, "text attention is not a plain nn.MultiheadAttention"
            if list(getattr(blk.mlp, "_modules", {})) != ["c_fc", "gelu", "c_proj"]:
                return False, "text MLP is not c_fc, gelu, c_proj"
        return True, ""

    def pool_index(self, toks: Sequence[int]) -> int:
        """Where `text_global_pool` reads a (zero-padded) row: first max id, or first eos id."""
        if self.pool_type == "eos":
            try:
                return list(toks).index(self.eos_id)
            except ValueError:
                return 0
        best = max(toks)
        return list(toks).index(best) if best > 0 else 0

    def linears(self, packed: bool | str) -> list[dict]:
        """Per block: the matmuls `_run` does (qkv, last layer's kv and q, out, fc, proj)."""
        W, out = self.width, []
        for i, blk in enumerate(self.blocks):
            a, fc, proj = blk.attn, blk.mlp.c_fc, blk.mlp.c_proj
            w, b = a.in_proj_weight, a.in_proj_bias
            if i < len(self.blocks) - 1:
                d = dict(qkv=linear(a, "qkv", w, b, mode=packed))
            else:  # the last block runs its keys/values and its queries on different nodes
                d = dict(kv=linear(a, "kv", w, b, rows=slice(W, None), mode=packed),
                         q=linear(a, "q", w, b, rows=slice(0, W), mode=packed))
            out.append(dict(d, out=linear(a.out_proj, "w", a.out_proj.weight, a.out_proj.bias, mode=packed),
                            fc=linear(fc, "w", fc.weight, fc.bias, mode=packed),
                            proj=linear(proj, "w", proj.weight, proj.bias, mode=packed)))
        return out

    def project(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln_final(x)
        proj = self.text_projection
        if proj is None:
            return x
        return proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj


def encode_texts_full(clip_model: Any, token_lists: Sequence[Sequence[int]], context_length: int,
                      device: torch.device) -> torch.Tensor:
    """Normalised `encode_text` of zero-padded rows (the stock path)."""
    rows = np.zeros((len(token_lists), context_length), dtype=np.int64)
    for i, toks in enumerate(token_lists):
        rows[i, : len(toks)] = toks
    emb = clip_model.encode_text(torch.from_numpy(rows).to(device))
    return F.normalize(emb.float(), dim=-1)


def upload(arr: np.ndarray, device: torch.device) -> torch.Tensor:
    """Host array to device without waiting for queued device work (pinned memory on CUDA)."""
    t = torch.from_numpy(arr)
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


@dataclass
class _Trie:
    """One step's new nodes per row, kept until the chosen candidate is committed."""

    nodes: list[dict]            # per row: key -> node index
    parents: list[list[int]]     # per row: parent node (-1: the committed prefix)
    toks: list[list[int]]
    branch: list[list[int]]      # per row: committed positions visible to the node
    new_k: list[torch.Tensor]    # per layer: (B, H, N, hd)
    new_v: list[torch.Tensor]


class PrefixTextEncoder:
    """Normalised CLIP text embeddings of k candidate token lists per row, sharing computation."""

    def __init__(self, clip_model: Any, batch_size: int, device: torch.device, context_length: int = 77,
                 share_prefix: bool = True, packed: bool | str = "auto"):
        self.model = clip_model
        self.tower = TextTower(clip_model)
        self.fast = share_prefix and self.tower.supported
        self.lin = self.tower.linears(packed) if self.fast else []
        self.B, self.device, self.context_length = batch_size, device, context_length
        self.committed: list[list[int]] = [[] for _ in range(batch_size)]
        self.kc: list[torch.Tensor] | None = None  # per layer (B, H, Lc, hd)
        self.vc: list[torch.Tensor] | None = None
        self._trie: _Trie | None = None
        self.tokens_run = 0  # text positions put through the transformer (for tests/benchmarks)

    @torch.no_grad()
    def encode(self, lists: Sequence[Sequence[Sequence[int]]]) -> torch.Tensor:
        """`lists[r][j]`: full token list of candidate j of row r. Returns (B, k, D) float32, L2-normalised."""
        k = len(lists[0])
        if not self.fast:
            flat = [t for row in lists for t in row]
            self.tokens_run += len(flat) * self.context_length
            return encode_texts_full(self.model, flat, self.context_length, self.device).view(len(lists), k, -1)
        tw = self.tower
        nodes, parents, toks, pos, branch, outs = [], [], [], [], [], []
        for r, row in enumerate(lists):
            com = self.committed[r]
            nd: dict = {}
            par, tk, ps, br, out = [], [], [], [], []
            for cand in row:
                cand = list(cand[: tw.pool_index(cand) + 1])
                m = min(_lcp(cand, com), len(cand) - 1)
                parent = -1
                for j in range(m, len(cand)):
                    key = (m, parent, cand[j])
                    idx = nd.get(key)
                    if idx is None:
                        idx = nd[key] = len(tk)
                        par.append(parent), tk.append(cand[j]), ps.append(j), br.append(m)
                    parent = idx
                out.append(parent)
            nodes.append(nd), parents.append(par), toks.append(tk), pos.append(ps), branch.append(br)
            outs.append(out)
        B = len(lists)
        N = max(len(t) for t in toks)
        Lc = 0 if self.kc is None else self.kc[0].shape[2]
        tok_arr = np.zeros((B, N), dtype=np.int64)
        pos_arr = np.zeros((B, N), dtype=np.int64)
        mask = np.zeros((B, N, Lc + N), dtype=bool)
        out_arr = np.asarray(outs, dtype=np.int64)
        for r in range(B):
            n = len(toks[r])
            tok_arr[r, :n], pos_arr[r, :n] = toks[r], pos[r]
            anc = np.zeros((n, n), dtype=bool)
            for i, p in enumerate(parents[r]):
                if p >= 0:
                    anc[i] = anc[p]
                anc[i, i] = True
                mask[r, i, : branch[r][i]] = True
            mask[r, :n, Lc: Lc + n] = anc
            idx = np.arange(n, N)
            mask[r, idx, Lc + idx] = True  # padding queries see themselves only
        self.tokens_run += sum(len(t) for t in toks)
        dev = self.device
        tok_t, pos_t = upload(tok_arr, dev), upload(pos_arr, dev)
        mask_t, out_t = upload(mask, dev)[:, None], upload(out_arr, dev)
        sel, new_k, new_v = self._run(tok_t, pos_t, mask_t, out_t)
        emb = tw.project(sel)
        self._trie = _Trie(nodes, parents, toks, branch, new_k, new_v)
        return F.normalize(emb.float(), dim=-1)

    def _run(self, tok: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor, out: torch.Tensor):
        """The tower over the step's nodes; returns the last layer's output at the `out` nodes (B, k, W) and
        every layer's new keys/values. The last layer needs only keys/values of the other nodes, so its query,
        attention output and MLP run on the `out` nodes alone."""
        tw = self.tower
        dt = tw.cast_dtype
        x = tw.token_embedding(tok).to(dt) + tw.positional_embedding.to(dt)[pos]
        B, N, W = x.shape
        H = tw.heads
        hd = W // H
        new_k, new_v = [], []
        last = len(tw.blocks) - 1
        for li, (blk, lin) in enumerate(zip(tw.blocks, self.lin)):
            h = blk.ln_1(x)
            if li < last:
                q, kk, vv = lin["qkv"](h).view(B, N, 3, H, hd).permute(2, 0, 3, 1, 4)
                m = mask
            else:
                kk, vv = lin["kv"](h).view(B, N, 2, H, hd).permute(2, 0, 3, 1, 4)
                idx = out[:, :, None].expand(-1, -1, W)
                x = x.gather(1, idx)
                q = lin["q"](h.gather(1, idx)).view(B, -1, H, hd).transpose(1, 2)
                m = mask.gather(2, out[:, None, :, None].expand(-1, 1, -1, mask.shape[-1]))
            new_k.append(kk), new_v.append(vv)
            if self.kc is not None:
                kk = torch.cat([self.kc[li], kk], dim=2)
                vv = torch.cat([self.vc[li], vv], dim=2)
            o = F.scaled_dot_product_attention(q, kk, vv, attn_mask=m)
            x = x + blk.ls_1(lin["out"](o.transpose(1, 2).reshape(B, -1, W)))
            x = x + blk.ls_2(lin["proj"](blk.mlp.gelu(lin["fc"](blk.ln_2(x)))))
        return x, new_k, new_v

    def commit(self, token_lists: Sequence[Sequence[int] | None]) -> None:
        """Make each row's committed prefix `token_lists[r]` (as far as keys/values are known for it).

        Rows given None keep their committed prefix. Call after `encode`, with the chosen texts' token lists.
        """
        if not self.fast or self._trie is None:
            return
        tr, Lc = self._trie, (0 if self.kc is None else self.kc[0].shape[2])
        srcs, new_committed = [], []
        for r, toks in enumerate(token_lists):
            com = self.committed[r]
            if toks is None:
                srcs.append(list(range(len(com)))), new_committed.append(com)
                continue
            toks = list(toks)
            m = _lcp(toks, com)
            # walk the step's trie from the deepest branch point at or below m that exists
            src = list(range(m))
            parent, j = -1, m
            while j < len(toks):
                idx = tr.nodes[r].get((m, parent, toks[j]))
                if idx is None:
                    break
                src.append(Lc + idx)
                parent, j = idx, j + 1
            srcs.append(src), new_committed.append(toks[:j])
        L = max(len(s) for s in srcs)
        index = np.zeros((len(srcs), L), dtype=np.int64)
        for r, s in enumerate(srcs):
            index[r, : len(s)] = s
        idx_t = upload(index, self.device)
        kc, vc = [], []
        for li in range(len(tr.new_k)):
            full_k = tr.new_k[li] if self.kc is None else torch.cat([self.kc[li], tr.new_k[li]], dim=2)
            full_v = tr.new_v[li] if self.vc is None else torch.cat([self.vc[li], tr.new_v[li]], dim=2)
            B, H, _, hd = full_k.shape
            g = idx_t[:, None, :, None].expand(B, H, L, hd)
            kc.append(full_k.gather(2, g)), vc.append(full_v.gather(2, g))
        self.kc, self.vc, self.committed, self._trie = kc, vc, new_committed, None

    def reset(self) -> None:
        self.committed = [[] for _ in range(self.B)]
        self.kc = self.vc = None
        self._trie = None


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
