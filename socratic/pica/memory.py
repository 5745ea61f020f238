"""PICa example memory: training questions with their CLIP question-text and image embeddings.

On disk (one folder per content hash, under <cache>/pica/memory/<key>/):
    features.npy  float32 (N, 2d): columns [0, d) the L2-normalised question-text embedding,
                  [d, 2d) the L2-normalised image embedding. Opened with np.load(mmap_mode="r").
    items.jsonl   one line per row: question, answer (the first annotator's), captions, tags, question_id.
    meta.json     n, dim, model, source.
Selection scores every row against [w_q·q | w_i·i] in one matrix product (methods.md §2, "Full").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..errors import SocraticError
from ..json_lines import jsonl_lines, read_jsonl
from ..paths import cache_dir

FORMAT = "pica-memory-v1"
# mode -> (question weight, image weight); "random" draws shots uniformly with replacement (paper's "Base")
MODES = {"question_image": (1.0, 1.0), "question": (1.0, 0.0), "image": (0.0, 1.0), "random": None}


@dataclass
class Item:
    question: str
    answer: str
    captions: list[str]
    tags: list[str]
    question_id: Any = None

    @property
    def valid(self) -> bool:
        """Reference rule: an example needs a non-empty question and first answer."""
        return bool(self.question) and bool(self.answer)

    def to_json(self) -> dict:
        return {"question": self.question, "answer": self.answer, "captions": self.captions, "tags": self.tags,
                "question_id": self.question_id}


# ---------------------------------------------------------------- reading the training set

@dataclass
class _Record:
    item: Item
    image: Path | None
    embedding: np.ndarray | None
    where: str  # "file:line" for errors


def _first_answer(rec: dict, where: str) -> str:
    if "answers" in rec:
        answers = rec["answers"]
        if not isinstance(answers, list):
            raise SocraticError(f"{where}: 'answers' must be a list", field="answers")
        if not answers:
            return ""
        a = answers[0]
        return str(a.get("answer", "") if isinstance(a, dict) else a)
    if "answer" in rec:
        return str(rec["answer"] or "")
    raise SocraticError(f"{where}: no 'answers' or 'answer'", field="answers")


def _parse(rec: Any, where: str, base: Path | None) -> _Record:
    if not isinstance(rec, dict):
        raise SocraticError(f"{where}: expected a JSON object")
    if "question" not in rec or not isinstance(rec["question"], (str, type(None))):
        raise SocraticError(f"{where}: missing or non-text 'question'", field="question")
    caps = rec.get("caption", rec.get("captions"))
    caps = [caps] if isinstance(caps, str) else caps
    if not caps or not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
        raise SocraticError(f"{where}: 'caption' must be a text or a non-empty list of texts", field="caption")
    tags = rec.get("tags") or []
    if not isinstance(tags, list):
        raise SocraticError(f"{where}: 'tags' must be a list", field="tags")
    item = Item(rec["question"] or "", _first_answer(rec, where), list(caps), [str(t) for t in tags],
                rec.get("question_id"))
    emb, image = None, None
    if rec.get("image_embedding") is not None:
        e = rec["image_embedding"]
        try:
            if isinstance(e, str):
                p = Path(e) if Path(e).is_absolute() or base is None else base / e
                emb = np.load(p).astype(np.float32).reshape(-1)
            else:
                emb = np.asarray(e, dtype=np.float32).reshape(-1)
        except Exception as exc:  # bad file or bad numbers
            raise SocraticError(f"{where}: unreadable image_embedding: {exc}", field="image_embedding") from None
    elif rec.get("image"):
        p = Path(rec["image"]).expanduser()
        image = p if p.is_absolute() or base is None else base / p
        if not image.is_file():
            raise SocraticError(f"{where}: image not found: {image}", field="image")
    else:
        raise SocraticError(f"{where}: needs 'image' (a path) or 'image_embedding'", field="image")
    return _Record(item, image, emb, where)


def read_training_set(source: str | Path | Sequence[dict], *, image_root: str | Path | None = None
                      ) -> tuple[list[_Record], str]:
    """Parse a JSONL file (or a list of dicts). Returns the records and a content digest of the source."""
    h = hashlib.sha256()
    records: list[_Record] = []
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise SocraticError(f"training set not found: {path}", field="memory")
        base = Path(image_root) if image_root else path.parent
        data = path.read_bytes()
        h.update(data)
        for line in jsonl_lines(data, str(path)):
            records.append(_parse(line.value, f"{path}:{line.number}", base))
    else:
        base = Path(image_root) if image_root else None
        for i, rec in enumerate(source):
            h.update(json.dumps(rec, sort_keys=True, default=str).encode())
            records.append(_parse(rec, f"item {i}", base))
    if not records:
        raise SocraticError("the training set is empty", field="memory")
    for r in records:  # image files: path, size and mtime stand for their content
        if r.image is not None:
            st = r.image.stat()
            h.update(f"{r.image.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return records, h.hexdigest()


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n == 0, 1.0, n)


def _model_key(vlm: Any) -> str:
    return f"{getattr(vlm, 'model_id', '')}|{getattr(vlm, 'fingerprint', '')}"


def memory_size(path: str | Path) -> int | None:
    """Examples in a built memory folder (its meta.json) or a training JSONL (its lines), without loading it;
    None when that cannot be told."""
    p = Path(path)
    try:
        if p.is_dir():
            n = json.loads((p / "meta.json").read_text(encoding="utf-8")).get("n")
            return n if isinstance(n, int) else None
        with open(p, "rb") as f:
            return sum(1 for line in f if line.strip())
    except (OSError, ValueError, AttributeError):
        return None


# ---------------------------------------------------------------- the memory

class ExampleMemory:
    """A built memory; `features` is memory-mapped, `items` hold the texts."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        try:
            self.meta = json.loads((self.folder / "meta.json").read_text())
            self.features = np.load(self.folder / "features.npy", mmap_mode="r")
            self.items = [Item(**line.value) for line in read_jsonl(self.folder / "items.jsonl")]
        except (OSError, ValueError, TypeError, SocraticError) as exc:
            raise SocraticError(f"cannot open PICa memory {self.folder}: {exc}", field="memory") from None
        if self.features.ndim != 2 or len(self.items) != self.features.shape[0]:
            raise SocraticError(f"PICa memory {self.folder} is inconsistent (rows vs items)", field="memory")
        self.dim = self.features.shape[1] // 2
        self._matrix = np.asarray(self.features)  # plain ndarray over the same mapping (memmap ops are slow)
        self.valid = np.array([it.valid for it in self.items], dtype=bool)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def question_features(self) -> np.ndarray:
        return self.features[:, : self.dim]

    @property
    def image_features(self) -> np.ndarray:
        return self.features[:, self.dim:]

    # ---------------------------------------------------------- writing

    @staticmethod
    def write(folder: str | Path, items: Sequence[Item], question_features: np.ndarray,
              image_features: np.ndarray, meta: dict | None = None) -> "ExampleMemory":
        """Write a memory from arrays (normalised here), atomically: a temp folder renamed into place."""
        folder = Path(folder)
        q, i = _normalise(question_features), _normalise(image_features)
        if q.shape != i.shape or q.shape[0] != len(items):
            raise SocraticError(f"feature shapes {q.shape}/{i.shape} do not match {len(items)} items",
                                field="memory")
        tmp = _tmp_folder(folder)
        feats = np.lib.format.open_memmap(tmp / "features.npy", mode="w+", dtype=np.float32,
                                          shape=(len(items), 2 * q.shape[1]))
        feats[:, : q.shape[1]], feats[:, q.shape[1]:] = q, i
        feats.flush()
        del feats
        _write_items_meta(tmp, items, {"n": len(items), "dim": int(q.shape[1]), **(meta or {})})
        return ExampleMemory(_publish(tmp, folder))

    # ---------------------------------------------------------- selection

    def scores(self, question_emb: np.ndarray | None, image_emb: np.ndarray | None,
               mode: str = "question_image") -> np.ndarray:
        """(B, N) similarity of every memory row to each query: one matrix product over the mapped file."""
        wq, wi = _weights(mode)
        b = _batch_size(question_emb, image_emb)
        query = np.zeros((b, 2 * self.dim), dtype=np.float32)
        if wq:
            query[:, : self.dim] = wq * _normalise(_need(question_emb, "question", self.dim))
        if wi:
            query[:, self.dim:] = wi * _normalise(_need(image_emb, "image", self.dim))
        return query @ self._matrix.T

    def select(self, question_emb: np.ndarray | None, image_emb: np.ndarray | None, k: int, *,
               mode: str = "question_image", rng: np.random.Generator | Sequence[np.random.Generator] | None = None
               ) -> np.ndarray:
        """(B, k) row indices, most similar first (exact ties: later row first, as the reference's ascending
        sort reversed). `random`: uniform, with replacement."""
        if k < 1:
            raise SocraticError(f"need at least one example, got n·m = {k}", field="n_shot")
        if mode == "random":
            b = len(rng) if isinstance(rng, (list, tuple)) else _batch_size(question_emb, image_emb, default=1)
            rngs = _rngs(rng, b)
            return np.stack([r.integers(0, len(self), size=k) for r in rngs])
        return self.ranked(question_emb, image_emb, k, mode=mode)[0]

    def ranked(self, question_emb: np.ndarray | None, image_emb: np.ndarray | None, k: int, *,
               mode: str = "question_image") -> tuple[np.ndarray, np.ndarray]:
        """(B, k) row indices, most similar first (tie rule as `select`), and their (B, k) similarities."""
        if k > len(self):
            raise SocraticError(f"the memory holds {len(self)} examples, fewer than n·m = {k}", field="n_shot")
        scores = np.atleast_2d(self.scores(question_emb, image_emb, mode))
        idx = top_k(scores, k)
        return idx, np.take_along_axis(scores, idx, axis=1)

    def shots(self, indices: Sequence[int], n: int, m: int, rng: np.random.Generator, *,
              caption_choice: str = "random", example_tags: bool = False, tag_join: str = "faithful",
              invalid_example: str = "replace") -> list[list[tuple[str, str, str]]]:
        """m prompts of n (caption, question, answer) examples: prompt r takes ranks r·n … r·n+n−1.

        An example with an empty question or answer is replaced by a uniformly random valid one: with
        invalid_example "replace" caption included; with "reference" the invalid example's caption is kept
        beside the replacement's question and answer (the reference code's quirk, methods.md §2). Captions
        are used as stored, never stripped;
        `caption_choice` random draws one of the item's captions (reference), first takes the first.
        """
        from .prompt import image_context

        if not self.valid.any():
            raise SocraticError("no memory example has both a question and an answer", field="memory")
        if invalid_example not in ("replace", "reference"):
            raise SocraticError(f"unknown invalid_example {invalid_example!r} (replace or reference)",
                                field="invalid_example")
        idx = list(indices)
        if len(idx) != n * m:
            raise SocraticError(f"got {len(idx)} example indices for n={n}, m={m}", field="n_shot")
        out = []
        for r in range(m):
            prompt = []
            for j in idx[r * n:(r + 1) * n]:
                j = first = int(j)
                while not self.valid[j]:
                    j = int(rng.integers(0, len(self)))
                it = self.items[j]
                src = self.items[first] if invalid_example == "reference" else it
                if caption_choice == "random":
                    cap = src.captions[int(rng.integers(0, len(src.captions)))]
                elif caption_choice == "first":
                    cap = src.captions[0]
                else:
                    raise SocraticError(f"unknown caption_choice {caption_choice!r} (random or first)",
                                        field="caption_choice")
                if example_tags:
                    cap = image_context(cap, src.tags, tag_join=tag_join)
                prompt.append((cap, it.question, it.answer))
            out.append(prompt)
        return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the k largest columns in descending order; equal scores: higher column (later row) first."""
    scores = np.atleast_2d(scores)
    n = scores.shape[1]
    out = np.empty((scores.shape[0], k), dtype=np.int64)
    for b, row in enumerate(scores):
        if k >= n:
            cand = np.arange(n)
        else:
            kth = row[np.argpartition(-row, k - 1)[:k]].min()
            cand = np.flatnonzero(row >= kth)  # every tie at the boundary, so the tie rule is exact
        order = np.lexsort((-cand, -row[cand]))
        out[b] = cand[order[:k]]
    return out


def _weights(mode: str) -> tuple[float, float]:
    if mode not in MODES or MODES[mode] is None:
        raise SocraticError(f"unknown selection mode {mode!r} (one of {sorted(MODES)})", field="mode")
    return MODES[mode]


def _batch_size(q, i, default: int | None = None) -> int:
    for x in (q, i):
        if x is not None:
            return np.atleast_2d(np.asarray(x)).shape[0]
    if default is not None:
        return default
    raise SocraticError("example selection needs a question or image embedding", field="mode")


def _need(x, what: str, dim: int) -> np.ndarray:
    if x is None:
        raise SocraticError(f"this selection mode needs the test {what} embedding", field="mode")
    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    if x.shape[1] != dim:
        raise SocraticError(f"{what} embedding has {x.shape[1]} dims, the memory {dim}: built with another "
                            f"model?", field="memory")
    return x


def _rngs(rng, b: int) -> list[np.random.Generator]:
    if rng is None:
        return [np.random.default_rng(0) for _ in range(b)]
    if isinstance(rng, np.random.Generator):
        return [rng] * b
    rngs = list(rng)
    if len(rngs) != b:
        raise SocraticError(f"{len(rngs)} random generators for {b} queries")
    return rngs


def _tmp_folder(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _write_items_meta(tmp: Path, items: Sequence[Item], meta: dict) -> None:
    with open(tmp / "items.jsonl", "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it.to_json(), ensure_ascii=False) + "\n")
    (tmp / "meta.json").write_text(json.dumps({"format": FORMAT, **meta}, indent=1))


def _publish(tmp: Path, folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process published the same memory first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ---------------------------------------------------------------- building with a VLM

def memory_key(digest: str, vlm: Any) -> str:
    return hashlib.sha256(f"{FORMAT}|{_model_key(vlm)}|{digest}".encode()).hexdigest()[:24]


def build_memory(source: str | Path | Sequence[dict], vlm: Any, *, image_root: str | Path | None = None,
                 folder: str | Path | None = None, batch_size: int = 64, rebuild: bool = False,
                 progress: Callable[[Iterable, str, int], Iterable] | None = None) -> ExampleMemory:
    """Embed a training set with `vlm` (CLIP), or reuse the copy stored under its content hash."""
    records, digest = read_training_set(source, image_root=image_root)
    key = memory_key(digest, vlm)
    folder = Path(folder) if folder else cache_dir("pica", "memory") / key
    if not rebuild and (folder / "meta.json").is_file():
        mem = ExampleMemory(folder)
        if mem.meta.get("key") == key:
            return mem
    qs = _embed_texts(vlm, [r.item.question for r in records], batch_size, progress)
    ims = _embed_images(vlm, records, batch_size, progress, qs.shape[1])
    meta = {"key": key, "model": _model_key(vlm), "source": str(source) if isinstance(source, (str, Path)) else
            "<list>"}
    return ExampleMemory.write(folder, [r.item for r in records], qs, ims, meta)


def _batches(n: int, size: int, progress, desc: str):
    starts = range(0, n, size)
    return progress(starts, desc, len(starts)) if progress else starts


def _embed_texts(vlm, texts: list[str], batch_size: int, progress) -> np.ndarray:
    out = [_to_numpy(vlm.encode_texts(texts[s:s + batch_size]))
           for s in _batches(len(texts), batch_size, progress, "memory questions")]
    return np.concatenate(out)


def _embed_images(vlm, records: list[_Record], batch_size: int, progress, dim: int) -> np.ndarray:
    from PIL import Image

    out = np.zeros((len(records), dim), dtype=np.float32)
    todo = [k for k, r in enumerate(records) if r.embedding is None]
    for k, r in enumerate(records):
        if r.embedding is not None:
            if r.embedding.shape[0] != dim:
                raise SocraticError(f"{r.where}: image_embedding has {r.embedding.shape[0]} dims, the model "
                                    f"{dim}", field="image_embedding")
            out[k] = r.embedding
    for s in _batches(len(todo), batch_size, progress, "memory images"):
        chunk = todo[s:s + batch_size]
        images = []
        for k in chunk:
            try:
                with Image.open(records[k].image) as im:
                    images.append(im.convert("RGB"))
            except Exception as exc:  # PIL raises several types
                raise SocraticError(f"{records[k].where}: cannot read image {records[k].image}: {exc}",
                                    field="image") from None
        out[chunk] = _to_numpy(vlm.encode_images(images))
    return out


def _to_numpy(t) -> np.ndarray:
    if hasattr(t, "detach"):
        t = t.detach().float().cpu().numpy()
    return np.asarray(t, dtype=np.float32)
