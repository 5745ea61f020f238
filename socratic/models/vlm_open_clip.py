"""CLIP through open_clip: pretrained tags, local checkpoints, or seeded random weights for tests."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from PIL import Image as PILImage

from ..fingerprint import digest
from ..errors import ModelNotFound, SocraticError
from ..media.keyframe import KeyFrame
from ..paths import cache_dir, write_atomic
from .base import VLM
from .clip_speed import SPEED_OPTIONS, CpuSpeed
from .embed_cache import cached_text_embeddings
from .loader import ModelSpec, pick_device, pick_dtype

OPTIONS = {"name", "pretrained", "path", "random_init", "seed", "config", "device", "dtype", "batch_size",
           "quick_gelu", "cache_dir", *SPEED_OPTIONS}
_PRECISION = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


IMAGE_MEMO_SIZE = 2048  # image embeddings kept in memory per model

# What `--random-vlm` builds: random weights carry no meaning at any size, so a small architecture keeps
# offline demos and tests fast (vocabularies of ~10k entries encode in seconds on a CPU).
STAND_IN_CONFIG = {"embed_dim": 64,
                   "vision_cfg": {"image_size": 64, "layers": 2, "width": 128, "patch_size": 16},
                   "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 2}}


def _sha256_file(path: Path) -> str:
    """Checksum of a checkpoint, remembered per (path, size, mtime) so big files are hashed once."""
    st = path.stat()
    memo = cache_dir("checksums") / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json")
    stamp = [str(path), st.st_size, st.st_mtime_ns]
    try:
        saved = json.loads(memo.read_text())
        if saved["stamp"] == stamp:
            return saved["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    write_atomic(memo, json.dumps({"stamp": stamp, "sha256": h.hexdigest()}).encode())
    return h.hexdigest()


def _dir_digest(folder: Path) -> str:
    files = sorted(f for f in folder.iterdir() if f.is_file())
    return "files=" + hashlib.sha256("".join(f"{f.name}:{_sha256_file(f)};" for f in files).encode()).hexdigest()


def quick_gelu(name: str, pretrained: str | None, requested: bool | None) -> bool:
    """QuickGELU as asked, else as the pretrained tag was trained (OpenAI weights need it; open_clip only warns)."""
    if requested is not None:
        return bool(requested)
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(name, pretrained) if pretrained and ":" not in name else {}
    return bool(tag_cfg.get("quick_gelu", False))


def register_config(config: dict[str, Any]) -> str:
    """Register a custom model config with open_clip under a name derived from its content."""
    import open_clip

    if not isinstance(config, dict) or "embed_dim" not in config or "vision_cfg" not in config \
            or "text_cfg" not in config:
        raise SocraticError("config must be a mapping with embed_dim, vision_cfg and text_cfg", field="config")
    blob = json.dumps(config, sort_keys=True)
    name = "socratic-custom-" + hashlib.sha256(blob.encode()).hexdigest()[:12]
    if name not in open_clip.list_models():
        path = cache_dir("open_clip_configs") / f"{name}.json"
        if not path.exists():
            write_atomic(path, blob.encode())
        open_clip.add_model_config(path)
    return name


class OpenClipVLM(VLM):
    """CLIP via open_clip. Weights: exactly one of `pretrained` (a tag such as openai), `path` (a local
    checkpoint file) or `random_init: true` (+ `seed`); a `local-dir:`/`hf-hub:` name brings its own.
    Architecture: `name` (ViT-L-14, ...) or `config` (a custom open_clip config mapping).
    Also: device, dtype, batch_size (32), cache_dir (open_clip's download folder), quick_gelu (default: as the
    pretrained tag was trained; set it true for an OpenAI checkpoint given by `path`).
    CPU speed of the image tower, all off by default (float32 is the exact reference; details in clip_speed.py):
    `cpu_bf16: true|false|auto` (bfloat16, only on a CPU with native bf16; 3.2-3.3x measured, image cosine >= 0.999
    and top-5 label agreement >= 0.75 vs float32), `int8: true|false` (dynamic int8 MLP layers; 1.8-1.9x, same
    tolerance), `channels_last: true|false` (float32 up to rounding, cosine >= 0.99999; no measured gain).
    One that is on joins the fingerprint and the model id; text embeddings are unchanged."""

    def __init__(self, spec: ModelSpec | None = None, **options: Any):
        import open_clip

        opts = {**(spec.options if spec else {}), **options}
        where = f"models.{spec.name}" if spec else "vlm"
        unknown = sorted(set(opts) - OPTIONS)
        if unknown:
            raise SocraticError(f"unknown open_clip option(s) {unknown} (known: {sorted(OPTIONS)})", field=where)
        name, config = self._architecture(opts, where)
        schema = name.split(":", 1)[0] if name.startswith(("local-dir:", "hf-hub:")) else None
        pretrained, path, random_init = opts.get("pretrained"), opts.get("path"), bool(opts.get("random_init"))
        given = [k for k in ("pretrained", "path", "random_init") if opts.get(k) not in (None, False)]
        if schema and set(given) & {"pretrained", "path"}:
            raise SocraticError(f"a {schema}: name brings its own weights: drop {given}", field=where)
        if not schema and len(given) != 1:
            raise ModelNotFound("give exactly one of `pretrained` (a tag such as openai), `path` (a local "
                                "checkpoint file) or `random_init: true`", field=where)
        self.name = name
        self.seed = int(opts.get("seed", 0))
        self.batch_size = int(opts.get("batch_size", 32))
        if self.batch_size < 1:
            raise SocraticError("batch_size must be >= 1", field=f"{where}.batch_size")
        self.device = pick_device(opts.get("device"))
        self.dtype = pick_dtype(opts.get("dtype"), self.device)
        self.speed = CpuSpeed.from_options(opts, self.device, self.dtype, where)
        kwargs = dict(precision=_PRECISION[self.dtype], device=self.device,
                      force_quick_gelu=quick_gelu(name, pretrained, opts.get("quick_gelu")),
                      cache_dir=opts.get("cache_dir"))
        label = "custom" if config is not None else name
        if random_init:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model, preprocess = self._create(name, None, {**kwargs, "pretrained_text": False}, where,
                                                 load_weights=False)
            arch = open_clip.get_model_config(name) if schema is None else name
            digest = hashlib.sha256(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:16]
            weights, tag = f"random:seed={self.seed}:config={digest}", f"random-seed{self.seed}"
        elif path is not None:
            p = Path(str(path)).expanduser()
            if not p.is_file():
                raise ModelNotFound(f"checkpoint not found: {p}", field=f"{where}.path")
            model, preprocess = self._create(name, str(p), kwargs, f"{where}.path")
            weights, tag = f"sha256={_sha256_file(p)}", p.name
        elif schema == "local-dir":
            model, preprocess = self._create(name, None, kwargs, where)
            weights, tag = _dir_digest(Path(name.split(":", 1)[1])), "local"
        else:
            model, preprocess = self._create(name, pretrained, kwargs, where)
            weights, tag = f"pretrained={pretrained}", str(pretrained or "hub")
        self.model_id = f"open_clip/{label}/{tag}{self.speed.tag()}"
        self._text_fingerprint = f"open_clip:{name}:{weights}"  # speed options leave the text tower alone
        self.fingerprint = self._text_fingerprint + self.speed.tag()
        if random_init:
            self.warnings = (f"vlm '{self.model_id}' has RANDOM weights: its visual labels are meaningless",)
        self.model = model.eval().requires_grad_(False)
        self.speed.apply(self.model)
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(name)
        self.logit_scale = float(model.logit_scale.detach().float().exp())
        self._vocab_memo: dict[str, torch.Tensor] = {}
        self._image_memo: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._image_lock = threading.Lock()
        with torch.inference_mode():
            probe = self.model.encode_text(self.tokenizer([""]).to(self.device))
        self.embed_dim = int(probe.shape[-1])

    @staticmethod
    def _architecture(opts: dict[str, Any], where: str) -> tuple[str, dict | None]:
        import open_clip

        config, name = opts.get("config"), opts.get("name")
        if config is not None:
            if name is not None:
                raise SocraticError("give either `name` or `config`, not both", field=where)
            return register_config(config), config
        if not name or not isinstance(name, str):
            raise SocraticError("missing `name` (an open_clip model name such as ViT-L-14)", field=where)
        if name.startswith(("local-dir:", "hf-hub:")):
            return name, None
        name = name.replace("/", "-")  # ViT-L/14 -> ViT-L-14
        if name not in open_clip.list_models():
            raise SocraticError(f"unknown open_clip model {name!r} (see open_clip.list_models())",
                                field=f"{where}.name")
        return name, None

    @staticmethod
    def _create(name: str, pretrained: str | None, kwargs: dict, where: str, load_weights: bool = True):
        import open_clip

        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, load_weights=load_weights, **kwargs)
        except Exception as exc:  # open_clip raises several types: network, unknown tag, bad checkpoint
            what = f"{name}/{pretrained}" if pretrained else name
            raise ModelNotFound(
                f"cannot load open_clip weights {what}: {exc}. Without a network, download them once elsewhere "
                f"(they land in the Hugging Face cache) or set `path:` to a local checkpoint file; "
                f"`random_init: true` (or the CLI flag --random-vlm) gives random weights for a test run",
                field=where) from None
        return model, preprocess

    # -- embeddings ---------------------------------------------------------------------------------
    def _pixels(self, image: Any) -> torch.Tensor:
        from PIL import Image

        if isinstance(image, torch.Tensor):
            if image.dim() != 3:
                raise SocraticError(f"a preprocessed image tensor must be (C, H, W), got {tuple(image.shape)}")
            return image
        if isinstance(image, (str, Path)):
            with Image.open(image) as im:
                image = im.convert("RGB")
        if not isinstance(image, Image.Image):
            raise SocraticError(f"expected a PIL image or a tensor, got {type(image).__name__}")
        return self.preprocess(image.convert("RGB") if image.mode != "RGB" else image)

    def _run(self, items: Sequence[Any], prepare, encode) -> torch.Tensor:
        chunks = []
        with torch.inference_mode():
            for i in range(0, len(items), self.batch_size):
                batch = prepare(items[i:i + self.batch_size])
                chunks.append(F.normalize(encode(batch).float(), dim=-1))
        if not chunks:
            return torch.empty(0, self.embed_dim, device=self.device)
        return torch.cat(chunks)

    def encode_images(self, images: Sequence[Any]) -> torch.Tensor:
        """Normalised image embeddings; PIL images already seen (e.g. a frame every CLIP node asks about) are
        served from a bounded in-memory memo keyed by their pixels. A `KeyFrame` brings its own embedding when
        this model made it, else its preview is encoded."""
        if isinstance(images, torch.Tensor) and images.dim() == 4:
            images = list(images)
        images = list(images)
        stored = {i: im.embedding for i, im in enumerate(images)
                  if isinstance(im, KeyFrame) and im.embedder == self.fingerprint and im.embedding is not None}
        images = [im.image() if isinstance(im, KeyFrame) and i not in stored else im for i, im in enumerate(images)]
        keys = [digest(im) if isinstance(im, PILImage.Image) else None for im in images]
        with self._image_lock:
            known = {k: self._image_memo[k] for k in keys if k is not None and k in self._image_memo}
        todo = [i for i, k in enumerate(keys) if i not in stored and (k is None or k not in known)]

        def prepare(batch):
            return self.speed.pixels(torch.stack([self._pixels(im) for im in batch]).to(self.device, self.dtype))

        fresh = self._run([images[i] for i in todo], prepare, self.model.encode_image)
        rows = dict(zip(todo, fresh))
        rows.update({i: torch.from_numpy(e).to(self.device) for i, e in stored.items()})
        with self._image_lock:
            for i, row in rows.items():
                if keys[i] is not None and i not in stored:
                    self._image_memo[keys[i]] = row
                    self._image_memo.move_to_end(keys[i])
            while len(self._image_memo) > IMAGE_MEMO_SIZE:
                self._image_memo.popitem(last=False)
        if not images:
            return torch.empty(0, self.embed_dim, device=self.device)
        return torch.stack([rows[i] if i in rows else known[keys[i]] for i in range(len(images))])

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise SocraticError("texts to encode must be strings")
        return self._run(texts, lambda batch: self.tokenizer(batch).to(self.device), self.model.encode_text)

    def encode_vocab(self, texts: Sequence[str]) -> torch.Tensor:
        """encode_texts for a fixed vocabulary, cached on disk (and in memory) per model and text list."""
        return cached_text_embeddings(self._text_fingerprint, texts, self.embed_dim, self.device, self.encode_texts,
                                      self._vocab_memo)
