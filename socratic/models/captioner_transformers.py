"""Captioning VLMs through transformers: whatever `AutoModelForImageTextToText` loads (BLIP / BLIP-2, Florence-2,
SmolVLM / Idefics3, LLaVA, Qwen2-VL / Qwen2.5-VL, ...), with the processor saved beside it.

    captioner: {family: captioner, backend: transformers, id: HuggingFaceTB/SmolVLM-256M-Instruct}

Weights as for every local backend (`id:` from the local Hugging Face cache, `path:` a saved directory; resolve.py),
or `random_init: true` (+ `seed`): the tiny random model of `--random-captioner` (captioner_stand_in.py), or
`random_init: arch` + `architecture: <id>`: random weights in that model's real architecture
(`--random-captioner-arch`, captioner_arch.py); their captions are meaningless and say so in a warning. Other
options: device, dtype, batch_size (8 items a forward pass), chat (auto), prompt (replaces the model's default
prompt), trust_remote_code (false).

How an item reaches the model:
- with a chat template (`chat: auto` and the processor has one: LLaVA, SmolVLM, Qwen-VL): one user message holding
  the item's images (a clip: all its frames, in order) and then the prompt, plus the generation prompt; the caption
  is the text generated after it. Default prompt: `DEFAULT_PROMPT`.
- without (BLIP, Florence-2): the clip's middle frame, with the prompt as the processor's text when there is one.
  BLIP continues a prompt (the caption starts with it) and captions unconditionally without one (the default);
  Florence-2 reads task tokens (default `<CAPTION>`; `<MORE_DETAILED_CAPTION>` gives a paragraph).
Decoding is greedy (one beam), special tokens are dropped and whitespace collapsed; a caption may come out empty.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

import torch

from ..errors import ModelNotFound, SocraticError
from .base import Captioner
from .images import clip_of, middle
from .loader import ModelSpec, pick_device, pick_dtype
from .resolve import check_options, resolve_weights

OPTIONS = {"device", "dtype", "batch_size", "chat", "prompt", "trust_remote_code", "random_init", "seed",
           "architecture"}
DEFAULT_PROMPT = "Describe what is happening in this image in one sentence."
TASK_PROMPTS = {"florence2": "<CAPTION>"}  # models that take a task token rather than an instruction


def load_transformers_captioner(spec: ModelSpec) -> "TransformersCaptioner":
    return TransformersCaptioner.from_spec(spec)


class TransformersCaptioner(Captioner):
    def __init__(self, model: Any, processor: Any, *, model_id: str, fingerprint: str, device: torch.device,
                 dtype: torch.dtype | None = None, batch_size: int = 8, chat: bool | str | None = "auto",
                 prompt: str | None = None, warnings: tuple[str, ...] = ()):
        self.model = model.to(device).eval().requires_grad_(False)
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", None) or processor
        self.model_id, self.fingerprint, self.warnings = model_id, fingerprint, tuple(warnings)
        self.device, self.dtype = device, dtype or next(model.parameters()).dtype
        self.batch_size = max(1, int(batch_size))
        self.model_type = str(getattr(model.config, "model_type", ""))
        has_template = bool(getattr(processor, "chat_template", None))
        if chat in (None, "auto"):
            self.chat = has_template
        elif isinstance(chat, bool):
            if chat and not has_template:
                raise SocraticError(f"captioner {model_id!r}: its processor has no chat template; set `chat: false`",
                                    field="chat")
            self.chat = chat
        else:
            raise SocraticError(f"chat must be auto, true or false, got {chat!r}", field="chat")
        if prompt is not None:
            self.default_prompt = str(prompt)
        elif self.chat:
            self.default_prompt = DEFAULT_PROMPT
        else:
            self.default_prompt = TASK_PROMPTS.get(self.model_type)
        if self.chat:  # batched decoder-only generation: pad on the left
            self.tokenizer.padding_side = "left"
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "TransformersCaptioner":
        check_options(spec, OPTIONS)
        o = spec.options
        where = f"models.{spec.name}"
        device = pick_device(o.get("device"))
        dtype = pick_dtype(o.get("dtype"), device)
        common = dict(device=device, dtype=dtype, batch_size=int(o.get("batch_size", 8)),
                      chat=o.get("chat", "auto"), prompt=o.get("prompt"))
        if o.get("random_init"):
            if any(o.get(k) for k in ("path", "id", "packaged", "package")):
                raise SocraticError("`random_init` builds its own model in code: drop the weights option",
                                    field=where)
            seed = int(o.get("seed", 0))
            if o["random_init"] == "arch":
                from .captioner_arch import build_arch_stand_in, stand_in_id

                arch = str(o.get("architecture", ""))
                model, processor, digest = build_arch_stand_in(arch, seed)
                model_id = stand_in_id(arch, seed)
                warning = (f"captioner '{model_id}' has RANDOM weights in {arch}'s architecture: its captions are "
                           f"meaningless (time and memory are the real model's)")
            else:
                from .captioner_stand_in import build_stand_in, stand_in_id

                model, processor, digest = build_stand_in(seed)
                model_id = stand_in_id(seed)
                warning = f"captioner '{model_id}' has RANDOM weights: its captions are meaningless"
            return cls(model.to(dtype), processor, model_id=model_id,
                       fingerprint=f"random-captioner:seed={seed}:config={digest}", warnings=(warning,), **common)
        try:
            w = resolve_weights(spec)
        except ModelNotFound as exc:
            raise ModelNotFound(f"{exc.message}; or run with --random-captioner for a random stand-in",
                                field=exc.field) from None
        kw: dict[str, Any] = {"trust_remote_code": bool(o.get("trust_remote_code", False))}
        if w.path is None:
            kw.update(revision=w.revision, local_files_only=w.local_files_only)
        try:
            processor = _auto_processor().from_pretrained(w.target, **kw)
            model = load_image_text_model(w.target, dtype=dtype, **kw)
        except (OSError, ValueError, KeyError) as exc:
            raise SocraticError(f"cannot load captioner {w.label!r}: {' '.join(str(exc).split())[:300]}",
                                field=where) from None
        return cls(model, processor, model_id=w.label, fingerprint=f"{w.fingerprint}|{dtype}", **common)

    # -- captioning ----------------------------------------------------------------------------------------------

    def caption(self, items: Sequence[Any], prompt: str | None = None, *, max_new_tokens: int = 48) -> list[str]:
        if max_new_tokens < 1:
            raise SocraticError(f"max_new_tokens must be ≥ 1, got {max_new_tokens}", field="max_new_tokens")
        clips = [clip_of(x) for x in items]
        prompt = self.default_prompt if prompt is None else prompt
        out: list[str] = []
        with self._lock:  # one generate at a time per model (threads share it)
            for i in range(0, len(clips), self.batch_size):
                out += self._generate(clips[i:i + self.batch_size], prompt, max_new_tokens)
        return out

    def _inputs(self, clips: list[list[Any]], prompt: str | None):
        if self.chat:
            texts = [self._chat_text(len(c), prompt or "") for c in clips]
            return self.processor(images=[list(c) for c in clips], text=texts, return_tensors="pt", padding=True)
        images = [middle(c) for c in clips]
        if prompt:
            return self.processor(images=images, text=[prompt] * len(images), return_tensors="pt", padding=True)
        return self.processor(images=images, return_tensors="pt")

    def _chat_text(self, n_images: int, prompt: str) -> str:
        content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": prompt}]
        return self.processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                  add_generation_prompt=True)

    def _generate(self, clips: list[list[Any]], prompt: str | None, max_new_tokens: int) -> list[str]:
        inputs = self._inputs(clips, prompt)
        batch = {k: (v.to(self.device, self.dtype) if torch.is_floating_point(v) else v.to(self.device))
                 if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        with torch.inference_mode():
            ids = self.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
        prompt_ids = batch.get("input_ids")
        if prompt_ids is not None and ids.shape[1] >= prompt_ids.shape[1] \
                and torch.equal(ids[:, :prompt_ids.shape[1]], prompt_ids):
            ids = ids[:, prompt_ids.shape[1]:]  # a decoder-only model repeats its prompt
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [" ".join(t.split()) for t in texts]


def _auto_processor():
    from transformers import AutoProcessor

    return AutoProcessor


def load_image_text_model(target: str, **kw: Any):
    """The model at `target` through AutoModelForImageTextToText (AutoModelForVision2Seq on transformers
    releases that still have it, for a model the first does not list)."""
    import transformers

    try:
        return transformers.AutoModelForImageTextToText.from_pretrained(target, **kw)
    except ValueError:
        older = getattr(transformers, "AutoModelForVision2Seq", None)
        if older is None:
            raise
        return older.from_pretrained(target, **kw)
