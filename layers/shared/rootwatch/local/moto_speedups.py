"""Keep moto's DynamoDB transactions fast enough for the local hub and the tests.

moto's `transact_write_items` deep-copies the whole table once per item of the
transaction, as a snapshot to roll back to. Every copy is taken before the first write,
so they are identical: one copy per table gives the same rollback at a fraction of the
cost (a ten-item transaction on a table of a few thousand items otherwise takes seconds).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.table import Table

_install_lock = threading.Lock()
_transaction_lock = threading.Lock()
_original_transact_write_items = models.DynamoDBBackend.transact_write_items


def _transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    snapshots: dict[int, Any] = {}

    class _SnapshotOncePerTable:
        @staticmethod
        def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
            if isinstance(value, Table):
                if id(value) not in snapshots:
                    snapshots[id(value)] = copy.deepcopy(value)
                return snapshots[id(value)]
            return copy.deepcopy(value, memo)

    with _transaction_lock:
        models.copy = _SnapshotOncePerTable  # type: ignore[attr-defined,assignment]
        try:
            _original_transact_write_items(backend, transact_items)
        finally:
            models.copy = copy  # type: ignore[attr-defined]


def copy_each_table_once_per_transaction() -> None:
    with _install_lock:
        setattr(models.DynamoDBBackend, "transact_write_items", _transact_write_items)  # noqa: B010
