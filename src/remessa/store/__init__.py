"""The store, single source of truth: batches, one message per input row, receipts, inbound messages and
the blocklist, on SQLite or PostgreSQL.

``Store`` (queries.py) is the facade every layer above uses; ``database`` holds the engines and the
transaction rules, ``schema`` the tables (``migrations/`` their history), and ``outcomes``, ``receipts``
and ``inbound`` the writes on messages that run inside one transaction. Nothing ORM-shaped leaves the
store: callers get the frozen records of remessa.model.
"""

from remessa.store.queries import Store

__all__ = ["Store"]
