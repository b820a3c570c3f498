"""Counting the AWS API calls a function makes, through botocore's `before-call` event.

botocore emits `before-call.<service>.<operation>` once for every API call a client makes,
before its first HTTP attempt (SDK retries are not calls). A client copies the event
hooks of its session when it is created, so the counter is attached to the session
before the functions make their clients; each call is put down to the caller named by
`calls_by` in the thread that made it.
"""

from __future__ import annotations

import contextvars
import itertools
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

OUTSIDE: Final = "(no function)"
_caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default=OUTSIDE)
_ids = itertools.count()


def current_caller() -> str:
    """Who the calls made now in this thread are put down to."""
    return _caller.get()


class EventHooks(Protocol):
    """What botocore's event emitters (`session.events`, `client.meta.events`) offer."""

    def register(self, event_name: str, handler: Any, unique_id: Any = None) -> None: ...

    def unregister(self, event_name: str, handler: Any = None, unique_id: Any = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class CallCounts:
    """API calls by operation (`<service id> <operation>`, e.g. `DynamoDB PutItem`)."""

    by_operation: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    def per(self, events: int) -> float:
        """Calls per event; no events make no calls."""
        return self.total / events if events else 0.0


class ApiCallCounter:
    """Counts API calls by caller and operation while it is attached to an event emitter."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._unique_id = f"rootwatch-bench-call-counter-{next(_ids)}"
        self._attached: list[EventHooks] = []
        self._counting = False

    def attach(self, events: EventHooks) -> None:
        """Count the calls of clients made from now on with these hooks (a session's)."""
        events.register("before-call", self._count, unique_id=self._unique_id)
        self._attached.append(events)
        self._counting = True

    def detach(self) -> None:
        """Stop counting, also for the clients that copied the hooks meanwhile."""
        for events in self._attached:
            events.unregister("before-call", self._count, unique_id=self._unique_id)
        self._attached.clear()
        self._counting = False

    def __enter__(self) -> ApiCallCounter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.detach()

    @contextmanager
    def calls_by(self, caller: str) -> Iterator[None]:
        """Put the calls made in this thread, until the block ends, down to `caller`."""
        token = _caller.set(caller)
        try:
            yield
        finally:
            _caller.reset(token)

    def counts(self, caller: str) -> CallCounts:
        return CallCounts(
            {operation: count for (who, operation), count in self._counts.items() if who == caller}
        )

    def callers(self) -> set[str]:
        return {who for who, _ in self._counts}

    def reset(self) -> None:
        self._counts.clear()

    def _count(self, model: Any, **_: Any) -> None:
        if not self._counting:
            return
        operation = f"{model.service_model.service_id} {model.name}"
        self._counts[(_caller.get(), operation)] += 1
