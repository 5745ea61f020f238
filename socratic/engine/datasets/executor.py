"""The dataset executor: rows → batches → records appended to an owned output. Engines subclass it and only
say how batches run (`execute`); rows, batching, resume, locking, progress and counts live here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from ...errors import SocraticError
from .output import OwnedOutput, check_out_path, check_owned
from .rows import Row

Emit = Callable[[Sequence[dict[str, Any]]], None]


def batches_of(rows: Sequence[Row], size: int, group: Callable[[Row], Any]) -> list[list[Row]]:
    """Consecutive rows of one group, at most `size` per batch."""
    out: list[list[Row]] = []
    for r in rows:
        if out and len(out[-1]) < size and group(out[-1][0]) == group(r):
            out[-1].append(r)
        else:
            out.append([r])
    return out


def summary_line(counts: dict[str, int], out: Any) -> str:
    return (f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed, "
            f"{counts['retried']} retried → {out if out is not None else '(not saved)'}")


class DatasetExecutor:
    """`run(data, out)` → counts {done, skipped, failed, retried}; `records` holds this run's records.

    done: items that succeeded now; skipped: items not run (finished before, or failed before with
    skip_failed); failed: items whose latest record is an error, this run's or kept; retried: items run again
    because their last record was an error.
    """

    def __init__(self, job, *, batch_size: int | None = None, progress: bool = False, skip_failed: bool = False,
                 resume_anyway: bool = False, restart: bool = False):
        if batch_size is not None and batch_size < 1:
            raise SocraticError(f"batch size must be at least 1, got {batch_size}", field="batch_size")
        if resume_anyway and restart:
            raise SocraticError("--resume-anyway and --restart exclude each other", field="restart")
        self.job = job
        self.batch_size = batch_size or job.default_batch_size()
        self.progress, self.skip_failed = progress, skip_failed
        self.resume_anyway, self.restart = resume_anyway, restart
        self.records: list[dict[str, Any]] = []

    def execute(self, batches: list[list[Row]], emit: Emit) -> None:  # pragma: no cover - abstract
        """Run every batch (see `records_for`) and `emit` its records as they come."""
        raise NotImplementedError

    def _group(self, row: Row) -> Any:
        return ("bad", id(row)) if row.error is not None else ("ok", self.job.group(row))

    def records_for(self, batch: list[Row]) -> list[dict[str, Any]]:
        """A batch's records: a row that cannot run is a batch of its own, with its error record."""
        if batch[0].error is not None:
            return [self.job.error_record(r) for r in batch]
        return self.job.run(batch)

    def run(self, data: Any, out: str | Path | None) -> dict[str, int]:
        job = self.job
        digest, options = job.digest(), job.options()
        if out is not None:
            out = Path(out)
            check_out_path(out, dataset=data)
            check_owned(out, digest, options, resume_anyway=self.resume_anyway, restart=self.restart)
        rows = job.rows(data)
        output = None
        if out is not None:
            output = OwnedOutput(out, id_key=job.id_key, digest=digest, options=options, describe=job.describe())
            output.open(resume_anyway=self.resume_anyway, restart=self.restart)
        try:
            return self._run(rows, output)
        finally:
            if output is not None:
                output.close()

    def _run(self, rows: list[Row], output: OwnedOutput | None) -> dict[str, int]:
        before = dict(output.latest) if output else {}
        counts = {"done": 0, "skipped": 0, "failed": 0, "retried": 0}
        todo: list[Row] = []
        for r in rows:
            prev = before.get(r.id)
            if prev is not None and ("error" not in prev or self.skip_failed):
                counts["skipped"] += 1
                continue
            counts["retried"] += prev is not None
            todo.append(r)
        bar = None
        if self.progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="items", unit="item", file=sys.stderr, dynamic_ncols=True)

        said: set[str] = set()

        def emit(records: Sequence[dict[str, Any]]) -> None:
            for rec in records:
                for w in rec.get("warnings") or []:  # each once per run, as they come (a random stand-in's first)
                    if w not in said:
                        said.add(w)
                        (bar.write if bar is not None else print)(f"warning: {w}", file=sys.stderr)
                # an unchanged error (a bad row met again) is not written twice
                if output is not None and before.get(str(rec[self.job.id_key])) != rec:
                    output.write(rec)
                self.records.append(rec)
                counts["done"] += "error" not in rec
            if bar is not None:
                bar.update(len(records))

        try:
            if todo:
                self.execute(batches_of(todo, self.batch_size, self._group), emit)
        finally:
            if bar is not None:
                bar.close()
        latest = output.latest if output else {str(rec[self.job.id_key]): rec for rec in self.records}
        counts["failed"] = sum(1 for r in rows if "error" in latest.get(r.id, {}))
        return counts

