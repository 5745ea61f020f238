"""Scene-text reading (`family: ocr`): the text visible in a frame (signs, labels, screens), as language.

    ocr: {family: ocr, backend: rapidocr}

`rapidocr` (default; pip package `rapidocr-onnxruntime`, in the `offline` extra): PP-OCRv4 detection and
recognition as ONNX models shipped inside the wheel, so it runs offline with no download. It reads signs on busy
frames in 0.4-0.6 s a 512 px frame (2-core CPU, one thread, other jobs running). Detection sees the frame at its own
size, scaled down only past `det_max_side` (960 px): the package's default scales every frame up to 736 px on its
shorter side, which read the same signs here 3.5x slower. Spaces between words of small text are sometimes lost
("PLATFORM9"). Options: det_max_side, `threads` (ONNX Runtime threads, default: its own choice).

`tesseract` (optional; `apt-get install tesseract-ocr` and `pip install pytesseract`): classic OCR, good on scanned
pages but measured to miss signs on busy video frames that rapidocr reads. Options: `lang` (eng), `psm` (11:
sparse text).

Both return text lines (`TextBox`) with a 0-1 confidence and corner points in the pixels of the image read, in
reading order: top to bottom, left to right within a row.
"""

from __future__ import annotations

import shutil
import threading
from typing import Any, Sequence

import numpy as np

from ..errors import ModelNotFound, SocraticError
from .base import OCR, TextBox
from .images import as_rgb
from .loader import ModelSpec


def _span(b: TextBox) -> tuple[float, float]:
    ys = [p[1] for p in b.box]
    return min(ys), max(ys)


def _same_row(a: TextBox, b: TextBox) -> bool:
    """Vertical centres within half a line height of each other."""
    (a0, a1), (b0, b1) = _span(a), _span(b)
    return abs((a0 + a1) / 2 - (b0 + b1) / 2) <= max(a1 - a0, b1 - b0) / 2


def text_rows(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Boxes grouped into rows of the image, top to bottom; a row's boxes left to right."""
    rows: list[list[TextBox]] = []
    for b in sorted(boxes, key=lambda b: sum(_span(b))):
        if rows and _same_row(rows[-1][0], b):
            rows[-1].append(b)
        else:
            rows.append([b])
    return [sorted(row, key=lambda b: min(p[0] for p in b.box)) for row in rows]


def reading_order(boxes: list[TextBox]) -> list[TextBox]:
    """Top to bottom, left to right within a row."""
    return [b for row in text_rows(boxes) for b in row]


def _check_options(spec: ModelSpec, allowed: set[str]) -> dict[str, Any]:
    unknown = sorted(set(spec.options) - allowed)
    if unknown:
        raise SocraticError(f"unknown option(s) {unknown} for ocr backend {spec.backend!r} (known: {sorted(allowed)})",
                            field=f"models.{spec.name}")
    return spec.options


class RapidOCR(OCR):
    def __init__(self, spec: ModelSpec | None = None, /, **options: Any):
        opts = {**(_check_options(spec, {"threads", "det_max_side"}) if spec else {}), **options}
        try:
            from rapidocr_onnxruntime import RapidOCR as Engine
        except ImportError as exc:  # the package, or a library it loads (OpenCV's libGL)
            raise ModelNotFound(f"the rapidocr OCR backend cannot import rapidocr-onnxruntime ({exc}); "
                                "`pip install rapidocr-onnxruntime`", field=f"models.{spec.name}" if spec else "ocr"
                                ) from None
        from importlib.metadata import version

        threads, side = int(opts.get("threads", -1)), int(opts.get("det_max_side", 960))
        self._engine = Engine(text_score=0.0, det_limit_type="max", det_limit_side_len=side,
                              intra_op_num_threads=threads, inter_op_num_threads=threads)
        self._lock = threading.Lock()
        ver = version("rapidocr-onnxruntime")
        self.model_id = f"rapidocr-onnxruntime {ver} (PP-OCRv4)"
        self.fingerprint = f"rapidocr:{ver}:det_max_side={side}"

    def read(self, images: Sequence[Any], *, min_score: float = 0.5) -> list[list[TextBox]]:
        out = []
        for image in images:
            bgr = np.ascontiguousarray(np.asarray(as_rgb(image))[:, :, ::-1])
            with self._lock:
                result, _ = self._engine(bgr)
            boxes = [TextBox(" ".join(str(text).split()), float(score), [[float(x), float(y)] for x, y in box])
                     for box, text, score in (result or [])]
            out.append(reading_order([b for b in boxes if b.text and b.score >= min_score]))
        return out


class TesseractOCR(OCR):
    def __init__(self, spec: ModelSpec | None = None, /, **options: Any):
        opts = {**(_check_options(spec, {"lang", "psm"}) if spec else {}), **options}
        where = f"models.{spec.name}" if spec else "ocr"
        try:
            import pytesseract
        except ImportError:
            raise ModelNotFound("the tesseract OCR backend needs `pip install pytesseract` and the tesseract "
                                "program (`apt-get install tesseract-ocr`); the rapidocr backend needs neither",
                                field=where) from None
        if shutil.which("tesseract") is None:
            raise ModelNotFound("the tesseract program is not installed (`apt-get install tesseract-ocr`)", field=where)
        self._tess = pytesseract
        self.lang, self.psm = str(opts.get("lang", "eng")), int(opts.get("psm", 11))
        ver = str(pytesseract.get_tesseract_version())
        self.model_id = f"tesseract {ver} ({self.lang})"
        self.fingerprint = f"tesseract:{ver}:{self.lang}:psm={self.psm}"

    def read(self, images: Sequence[Any], *, min_score: float = 0.5) -> list[list[TextBox]]:
        out = []
        for image in images:
            d = self._tess.image_to_data(as_rgb(image), lang=self.lang, config=f"--psm {self.psm}",
                                         output_type=self._tess.Output.DICT)
            lines: dict[tuple, list[int]] = {}
            for i, word in enumerate(d["text"]):
                if str(word).strip() and float(d["conf"][i]) >= 0:
                    lines.setdefault((d["block_num"][i], d["par_num"][i], d["line_num"][i]), []).append(i)
            boxes = []
            for idx in lines.values():
                x0 = min(d["left"][i] for i in idx)
                y0 = min(d["top"][i] for i in idx)
                x1 = max(d["left"][i] + d["width"][i] for i in idx)
                y1 = max(d["top"][i] + d["height"][i] for i in idx)
                score = float(np.mean([float(d["conf"][i]) for i in idx])) / 100.0
                text = " ".join(str(d["text"][i]).strip() for i in idx)
                if score >= min_score:
                    boxes.append(TextBox(text, score, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
            out.append(reading_order(boxes))
        return out
