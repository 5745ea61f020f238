"""A captioner behind any OpenAI-compatible vision chat API (OpenAI, vLLM, Ollama, llama.cpp's server, ...).

    captioner: {family: captioner, backend: openai, base_url: http://localhost:8000/v1,
                model: Qwen/Qwen2.5-VL-7B-Instruct}

Each item is one /chat/completions request: a user message with the image (a clip: every frame, in order) as
base64 JPEG data URIs, then the prompt; temperature 0. Images larger than `max_side` (1024 px) on their longer side are
scaled down first; `detail` (auto) is passed to APIs that read it. The HTTP client, the API key (read from
`api_key_env`, never shown in traces, errors or pickles), retries on 429 / 5xx / timeouts and the request
concurrency are those of the openai LM backend (lm_openai.py), with the same option names.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Sequence

from PIL import Image

from ..encoding import safe_text
from ..errors import SocraticError
from .base import Captioner
from .captioner_transformers import DEFAULT_PROMPT
from .images import clip_of
from .lm_openai import OpenAILM
from .loader import ModelSpec

_HTTP_OPTIONS = {"base_url", "model", "id", "api_key_env", "timeout", "max_retries", "concurrency",
                 "retry_base_delay", "retry_max_delay"}
_OPTIONS = _HTTP_OPTIONS | {"prompt", "detail", "max_side", "jpeg_quality"}


def data_uri(image: Image.Image, *, max_side: int | None = 1024, quality: int = 90) -> str:
    """An RGB image as a `data:image/jpeg;base64,...` URI, scaled down to `max_side` when larger."""
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class OpenAICaptioner(Captioner):
    def __init__(self, spec: ModelSpec | None = None, /, **options: Any):
        opts = {**(spec.options if spec else {}), **options}
        where = f"models.{spec.name}" if spec else "openai"
        unknown = sorted(set(opts) - _OPTIONS)
        if unknown:
            raise SocraticError(f"unknown option(s) {unknown} for the openai captioner backend "
                                f"(known: {sorted(_OPTIONS)})", field=where)
        http = {k: v for k, v in opts.items() if k in _HTTP_OPTIONS}
        try:
            self._http = OpenAILM(mode="chat", **http)
        except SocraticError as exc:
            raise SocraticError(exc.message.replace("openai LM backend", "openai captioner backend"),
                                field=where + (exc.field[len("openai"):] if exc.field else "")) from None
        self.model, self.base_url = self._http.model, self._http.base_url
        self.detail = str(opts.get("detail", "auto"))
        if self.detail not in ("auto", "low", "high"):
            raise SocraticError(f"detail must be auto, low or high, got {self.detail!r}", field=f"{where}.detail")
        side = opts.get("max_side", 1024)
        if side is not None and (isinstance(side, bool) or not isinstance(side, int) or side < 16):
            raise SocraticError(f"max_side must be an integer ≥ 16 or null, got {side!r}", field=f"{where}.max_side")
        self.max_side = side
        self.jpeg_quality = int(opts.get("jpeg_quality", 90))
        self.default_prompt = str(opts.get("prompt") or DEFAULT_PROMPT)
        self.model_id = self.model
        self.fingerprint = (f"openai-captioner:{self.base_url}|{self.model}|detail={self.detail}|"
                            f"side={self.max_side}|q={self.jpeg_quality}")

    def __repr__(self) -> str:
        return f"OpenAICaptioner(model={self.model!r}, base_url={self.base_url!r})"

    def caption(self, items: Sequence[Any], prompt: str | None = None, *, max_new_tokens: int = 48) -> list[str]:
        if max_new_tokens < 1:
            raise SocraticError(f"max_new_tokens must be ≥ 1, got {max_new_tokens}", field="max_new_tokens")
        prompt = self.default_prompt if prompt is None else prompt
        clips = [clip_of(x) for x in items]
        return self._http._map(lambda clip: self._one(clip, prompt, max_new_tokens), clips)

    def _one(self, clip: list[Image.Image], prompt: str, max_new_tokens: int) -> str:
        content: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": data_uri(im, max_side=self.max_side, quality=self.jpeg_quality),
                                                "detail": self.detail}} for im in clip]
        if prompt:
            content.append({"type": "text", "text": safe_text(prompt)})
        http = self._http
        try:
            resp = http._call(http._api().chat.completions.create, model=self.model,
                              messages=[{"role": "user", "content": content}], max_tokens=max_new_tokens,
                              temperature=0.0)
            choices = http._choices(resp)
        except SocraticError as exc:
            raise SocraticError("captioner" + exc.message[2:] if exc.message.startswith("LM ") else exc.message
                                ) from None
        if not choices:
            raise SocraticError(f"captioner {self.model!r} at {self.base_url}: the server returned no choices")
        return " ".join((choices[0].message.content or "").split())
