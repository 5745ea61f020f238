"""Self-contained HTML reports of runs: `socratic report RESULT.json -o report.html` (also trace JSON and
dataset JSONL). Reads the JSON only; no model code is imported."""

from .build import check_report_path, report_html, write_report, write_result_report

__all__ = ["check_report_path", "report_html", "write_report", "write_result_report"]
