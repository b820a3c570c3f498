"""DynamoDB transactions in the embedded AWS, at a cost that does not grow with the table.

Before it changes anything, moto's TransactWriteItems deep-copies the whole table once per
item of the transaction, so that it can put the copy back if the transaction is cancelled.
The audit table grows with every event, and each batch the processor handles is one
transaction of a dozen items: copying the table a dozen times per batch made a local burst
of a few hundred events take minutes.

Here moto's backups are the live table (no copy), and the items the transaction names are
saved instead, before it runs; when moto cancels the transaction, those items are put back
as they were (or removed, when they did not exist). A transaction can change no other item,
so the table ends as moto's own rollback would leave it.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

# The name under which moto's DynamoDB models import the `copy` module.
_COPY_MODULE_NAME: Final = "copy"


class _LiveTableBackups:
    """The `copy` module as moto's DynamoDB models see it: inside a transaction, a table's
    "backup" is the table itself. Everything else is the real `copy` module."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if getattr(self._local, "in_transaction", False) and isinstance(value, Table):
            return value
        return self._real.deepcopy(value, memo)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._local.in_transaction = True
        try:
            yield
        finally:
            self._local.in_transaction = False


_SavedItem = tuple[Table, Any, Any, Any]


def _saved_items(backend: DynamoDBBackend, transact_items: Sequence[Any]) -> list[_SavedItem]:
    """(table, hash key, range key, a copy of the item or None) for each item named."""
    saved: list[_SavedItem] = []
    for entry in transact_items:
        _, operation = next(iter(entry.items()))
        table = backend.tables[operation["TableName"]]
        key: Mapping[str, Any] = operation.get("Key") or {
            name: operation["Item"][name]
            for name in (table.hash_key_attr, table.range_key_attr)
            if name is not None
        }
        hash_key, range_key = backend.get_keys_value(table, dict(key))
        item = table.get_item(hash_key, range_key)
        saved.append((table, hash_key, range_key, copy.deepcopy(item)))
    return saved


def _put_back(saved: Sequence[_SavedItem]) -> None:
    # In reverse, so that an item named twice ends as it was before the first.
    for table, hash_key, range_key, item in reversed(saved):
        if item is None:
            if range_key is not None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items.pop(hash_key, None)
        elif range_key is not None:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item


def back_up_only_the_items_a_transaction_names() -> None:
    """Install the item backups in this process's moto (once; later calls do nothing)."""
    real_copy = getattr(dynamodb_models, _COPY_MODULE_NAME)
    if isinstance(real_copy, _LiveTableBackups):
        return
    backups = _LiveTableBackups(real_copy)
    transact_write_items = DynamoDBBackend.transact_write_items

    def transact_write_items_saving_items(self: DynamoDBBackend, transact_items: Any) -> None:
        try:
            saved = _saved_items(self, transact_items)
        except Exception:  # a malformed request: moto reports it its own way
            transact_write_items(self, transact_items)
            return
        with backups.transaction():
            try:
                transact_write_items(self, transact_items)
            except Exception:
                _put_back(saved)
                raise

    setattr(dynamodb_models, _COPY_MODULE_NAME, backups)
    DynamoDBBackend.transact_write_items = transact_write_items_saving_items  # type: ignore[method-assign]
