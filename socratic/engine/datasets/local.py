"""The local engine: batches one after another in this process."""

from __future__ import annotations

from .executor import DatasetExecutor, Emit
from .rows import Row


class LocalExecutor(DatasetExecutor):
    def execute(self, batches: list[list[Row]], emit: Emit) -> None:
        for batch in batches:
            emit(self.records_for(batch))
