"""Dataset mode (the implementation lives in socratic/datasets/): kept for imports of `socratic.dataset`."""

from .datasets import run_dataset  # noqa: F401
from .datasets.job import item_record, run_items  # noqa: F401
from .datasets.output import latest_records  # noqa: F401
from .jsonl import finished_ids, iter_jsonl  # noqa: F401
