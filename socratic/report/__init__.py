"""Self-contained HTML reports of runs: `socratic report RESULT.json -o report.html` (also trace JSON and
dataset JSONL). Reads the JSON only; no model code is imported."""

from .build import report_html, write_report

__all__ = ["report_html", "write_report"]
