"""Text of the LM's continuation, as MAGiC hands it to CLIP: `decode(ids[-window:])`, built incrementally.

For byte-level BPE tokenizers (GPT-2 style: the decoder maps each token to bytes and the whole is decoded as
UTF-8 with replacement) the text of prefix+candidate is the prefix's text so far plus the UTF-8 decoding of the
prefix's undecided trailing bytes and the candidate's bytes: an incremental UTF-8 decoder gives exactly what
decoding everything at once gives. Whether a tokenizer decodes that way is checked on probe sequences against
`tokenizer.decode`; other tokenizers decode each candidate's window from scratch (`batch_decode`).
"""

from __future__ import annotations

import codecs
import random
import weakref
from dataclasses import dataclass, field
from typing import Any, Sequence

_BYTES_CACHE: "weakref.WeakKeyDictionary[Any, list[bytes] | None]" = weakref.WeakKeyDictionary()


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, inverted (char -> byte)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def token_bytes_table(tokenizer: Any) -> list[bytes] | None:
    """Bytes of every token id, when `tokenizer.decode` is byte-level concatenation; else None."""
    try:
        return _BYTES_CACHE[tokenizer]
    except (KeyError, TypeError):
        pass
    table = _build_table(tokenizer)
    try:
        _BYTES_CACHE[tokenizer] = table
    except TypeError:
        pass
    return table


def _build_table(tokenizer: Any) -> list[bytes] | None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or type(backend.decoder).__name__ != "ByteLevel":
        return None
    if getattr(tokenizer, "clean_up_tokenization_spaces", False):
        return None
    alphabet = _byte_alphabet()
    added = {int(i): t.content for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items()}
    n = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(n)))
    table: list[bytes] = []
    for i, piece in enumerate(pieces):
        if i in added:
            table.append(added[i].encode("utf-8"))
        elif piece is None:
            table.append(b"")
        else:
            try:
                table.append(bytes(alphabet[c] for c in piece))
            except KeyError:
                return None
    return table if _agrees(tokenizer, table) else None


def _agrees(tokenizer: Any, table: list[bytes]) -> bool:
    """Probe: byte concatenation must equal `tokenizer.decode` (special tokens, split UTF-8 included)."""
    rng = random.Random(0)
    n = len(table)
    specials = [int(i) for i in getattr(tokenizer, "added_tokens_decoder", {})][:20]
    high = [i for i, b in enumerate(table) if len(b) == 1 and b[0] >= 0x80][:64]
    multi = [i for i, b in enumerate(table[:5000]) if any(c >= 0x80 for c in b)][:64]
    probes = [[rng.randrange(n) for _ in range(rng.randint(1, 12))] for _ in range(40)]
    pool = specials + high + multi
    if pool:
        probes += [[rng.choice(pool + [rng.randrange(n)]) for _ in range(rng.randint(1, 8))] for _ in range(40)]
    for ids in probes:
        if tokenizer.decode(ids) != b"".join(table[i] for i in ids).decode("utf-8", "replace"):
            return False
    return True


@dataclass
class RowText:
    """One row's generated ids and the decoded text of the window they end."""

    ids: list[int] = field(default_factory=list)
    done: str = ""            # decoded text of the window's bytes, without the undecided tail
    pending: bytes = b""      # trailing bytes the UTF-8 decoder has not decided yet
    _dec: Any = None


class LmText:
    """Candidate texts `decode((ids + [v])[-window:])` for every candidate v of every row."""

    def __init__(self, tokenizer: Any, window: int = 60, strategy: str = "auto"):
        if window < 1:
            raise ValueError("window must be >= 1")
        self.tokenizer, self.window = tokenizer, window
        self.table = token_bytes_table(tokenizer) if strategy in ("auto", "bytes") else None
        if strategy == "bytes" and self.table is None:
            raise ValueError("tokenizer does not decode as byte-level BPE")
        self.strategy = "bytes" if self.table is not None else "decode"

    def new_row(self) -> RowText:
        row = RowText()
        if self.table is not None:
            row._dec = codecs.getincrementaldecoder("utf-8")("replace")
        return row

    def _rebuild(self, row: RowText, ids: Sequence[int]) -> None:
        row._dec = codecs.getincrementaldecoder("utf-8")("replace")
        row.done = row._dec.decode(b"".join(self.table[i] for i in ids))
        row.pending = row._dec.getstate()[0]

    def prefix(self, row: RowText) -> str:
        """Text of the window the next candidate will extend (what every candidate text starts with, mostly)."""
        return row.done

    def candidates(self, row: RowText, cand: Sequence[int]) -> list[str]:
        ids = row.ids
        keep = self.window - 1  # ids kept before the candidate
        if self.table is None:
            base = _tail(ids, keep)
            return self.tokenizer.batch_decode([base + [v] for v in cand])
        if len(ids) > keep:  # window slides: this row's text is rebuilt from its last ids
            self._rebuild(row, _tail(ids, keep))
        t = self.table
        return [row.done + (row.pending + t[v]).decode("utf-8", "replace") for v in cand]

    def advance(self, row: RowText, tok: int) -> None:
        row.ids.append(tok)
        if self.table is None:
            keep = self.window - 1
            row.done = self.tokenizer.decode(_tail(row.ids, keep))
            return
        if len(row.ids) > self.window - 1:
            return  # rebuilt lazily by `candidates` (the window slid)
        row.done += row._dec.decode(self.table[tok])
        row.pending = row._dec.getstate()[0]

    def text(self, row: RowText) -> str:
        """Decoded text of the row's current window (what the chosen candidate's text was)."""
        ids = row.ids[-self.window:]
        if self.table is None:
            return self.tokenizer.decode(ids)
        return b"".join(self.table[i] for i in ids).decode("utf-8", "replace")


def _tail(ids: Sequence[int], n: int) -> list[int]:
    """The last n ids (none for n == 0)."""
    return list(ids[max(0, len(ids) - n):]) if n > 0 else []
