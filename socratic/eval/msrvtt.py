"""MSR-VTT caption galleries: the official `test_videodatainfo.json` (Full test split) and the 1k-A split's CSV
(`MSRVTT_JSFUSION_test.csv`: columns key, vid_key, video_id, sentence).

A gallery is every video's caption set, in file order. Caption sets may differ in size (the method takes the
max over each set as it is); an empty set, a duplicate video id or a file of the wrong shape is a one-line error.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import SocraticError

CSV_COLUMNS = ("video_id", "sentence")


@dataclass(frozen=True)
class Gallery:
    ids: list[str]
    captions: list[list[str]]  # captions[i] is the caption set of ids[i]

    @property
    def sizes(self) -> tuple[int, int]:
        """Smallest and largest caption set."""
        n = [len(c) for c in self.captions]
        return (min(n), max(n)) if n else (0, 0)


def load_gallery(path: str | Path, *, split: str = "test") -> Gallery:
    """A `.json` file in MSR-VTT's videodatainfo shape (videos of `split`; "all" keeps every split) or a 1k-A
    `.csv` (split is ignored)."""
    p = Path(path)
    if not p.is_file():
        raise SocraticError("annotation file not found", file=str(p))
    if p.suffix.lower() == ".csv":
        return _from_csv(p)
    if p.suffix.lower() == ".json":
        return _from_videodatainfo(p, split)
    raise SocraticError("an MSR-VTT annotation file is test_videodatainfo.json (.json) or the 1k-A .csv",
                        file=str(p))


def _from_videodatainfo(p: Path, split: str) -> Gallery:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SocraticError(f"not valid JSON ({exc})", file=str(p)) from None
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list) \
            or not isinstance(data.get("sentences"), list):
        raise SocraticError("expected MSR-VTT's videodatainfo shape: an object with lists 'videos' "
                            "[{video_id, split, ...}] and 'sentences' [{video_id, caption, ...}]", file=str(p))
    ids: list[str] = []
    seen: set[str] = set()
    for i, v in enumerate(data["videos"]):
        if not isinstance(v, dict) or not isinstance(v.get("video_id"), str):
            raise SocraticError(f"videos[{i}] has no text 'video_id'", file=str(p))
        if split != "all" and v.get("split") != split:
            continue
        if v["video_id"] in seen:
            raise SocraticError(f"duplicate video id {v['video_id']!r} (videos[{i}])", file=str(p))
        seen.add(v["video_id"])
        ids.append(v["video_id"])
    if not ids:
        splits = sorted({str(v.get("split")) for v in data["videos"] if isinstance(v, dict)})
        raise SocraticError(f"no video of split {split!r} (splits here: {', '.join(splits) or 'none'})",
                            file=str(p), field="split")
    sets: dict[str, list[str]] = {i: [] for i in ids}
    for j, s in enumerate(data["sentences"]):
        if not isinstance(s, dict) or not isinstance(s.get("video_id"), str) or not isinstance(s.get("caption"), str):
            raise SocraticError(f"sentences[{j}] needs text 'video_id' and 'caption'", file=str(p))
        if s["video_id"] in sets:
            sets[s["video_id"]].append(s["caption"].strip())
    return _checked(Gallery(ids, [sets[i] for i in ids]), str(p))


def _from_csv(p: Path) -> Gallery:
    sets: dict[str, list[str]] = {}
    last_row: dict[str, int] = {}
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SocraticError(f"expected the 1k-A CSV columns key, vid_key, video_id, sentence; missing "
                                f"{', '.join(missing)} (header: {reader.fieldnames})", file=str(p), line=1)
        for row in reader:
            vid, text = (row.get("video_id") or "").strip(), row.get("sentence")
            if not vid or text is None:
                raise SocraticError("a row without video_id or sentence", file=str(p), line=reader.line_num)
            if vid in sets and last_row[vid] != reader.line_num - 1:
                raise SocraticError(f"duplicate video id {vid!r} (first seen on line {last_row[vid]}, not "
                                    f"contiguous)", file=str(p), line=reader.line_num)
            sets.setdefault(vid, []).append(text.strip())
            last_row[vid] = reader.line_num
    if not sets:
        raise SocraticError("no rows", file=str(p))
    return _checked(Gallery(list(sets), list(sets.values())), str(p))


def _checked(g: Gallery, file: str) -> Gallery:
    for vid, caps in zip(g.ids, g.captions):
        if not caps or not all(c for c in caps):
            raise SocraticError(f"video {vid!r} has an empty caption set or an empty caption", file=file)
    return g
