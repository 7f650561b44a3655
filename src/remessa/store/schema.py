"""The tables of the store (SQLAlchemy Core); alembic migrations create them, the store queries them.

Times are UTC epoch seconds (REAL): cheap to compare and free of time-zone traps; reports format them.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text, text

metadata = MetaData()

batches = Table(
    "batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("profile", String(100), nullable=False),
    Column("name", String(255), nullable=False),
    Column("provider", String(100), nullable=False),
    Column("subaccount", String(100), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("in_flight", String(16), nullable=False, server_default="retry"),
    Column("format", String(16), nullable=False, server_default=""),
    Column("encoding", String(16), nullable=False, server_default=""),
    Column("kind", String(16), nullable=False, server_default="sms"),
    Column("info", Text, nullable=False, server_default="{}"),  # FileInfo as JSON
    Column("options", Text, nullable=False, server_default="{}"),  # sidecar options as JSON
    Column("error_code", String(64), nullable=False, server_default=""),
    Column("error", Text, nullable=False, server_default=""),
    Column("rows", Integer, nullable=False, server_default="0"),
    Column("last_line", Integer, nullable=False, server_default="0"),  # ingest progress, for resuming
    Column("final_name", String(255), nullable=False, server_default=""),  # name in success/ or error/
    Column("outcome", String(8), nullable=False, server_default=""),  # "success" or "error" once finished
    Column("zone", String(64), nullable=False, server_default="UTC"),  # IANA zone of window and dates
    Column("window", Text, nullable=False, server_default="{}"),  # {"hours": [...]} or {"date","start","end"}
    Column("not_before", Float),  # scheduled start
    Column("expires_at", Float),  # messages not submitted by then become EXPIRED
    Column("paused", Integer, nullable=False, server_default="0"),  # paused by an operator
    Column("eta", Float),  # expected finish of submission, computed at admission
    Column("expected_expired", Integer, nullable=False, server_default="0"),
    Column("received_at", Float, nullable=False),
    Column("first_submit_at", Float),
    Column("last_submit_at", Float),
    Column("finished_at", Float),
    Column("settled_at", Float),
    Column("changed_at", Float),  # last change that the written report does not show yet
    Column("pruned_at", Float),  # its messages and receipts deleted (daemon.retention_days); reports stay
    Index("ix_batches_profile_name", "profile", "name"),
    Index("ix_batches_state", "state"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("batch_id", Integer, ForeignKey("batches.id"), nullable=False),
    Column("line", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("destination", Text, nullable=False),  # as written when the row is INVALID: any length
    Column("text", Text, nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("extra_info", Text, nullable=False),
    Column("params", Text, nullable=False),  # JSON list of WhatsApp template values, "" for SMS
    Column("raw", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("provider_id", String(100)),
    Column("parts", Integer),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_code", Integer),
    Column("sent_status", String(64)),
    Column("delivered_code", Integer),
    Column("delivered_status", String(64)),
    Column("submitted_at", Float),
    Column("sent_at", Float),
    Column("delivered_at", Float),
    Index("ix_messages_batch_status", "batch_id", "status"),
    Index(
        "ix_messages_provider_id",
        "provider_id",
        sqlite_where=text("provider_id IS NOT NULL"),
        postgresql_where=text("provider_id IS NOT NULL"),
    ),
)

receipts = Table(
    "receipts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", Integer, ForeignKey("messages.id")),  # NULL until matched
    Column("provider_id", String(100), nullable=False),
    Column("part_id", String(100)),  # the part's own id when a multipart message reports per part
    Column("alias", String(100)),  # the provider's own form of provider_id, when the receipt wrote another
    Column("at", Float, nullable=False),
    Column("sent_code", Integer),
    Column("sent_status", String(64)),
    Column("delivered_code", Integer),
    Column("delivered_status", String(64)),
    Column("read_at", Float),  # WhatsApp: when the recipient read it
    Column("raw", Text, nullable=False, server_default="{}"),
    Column("received_at", Float, nullable=False),
    Index("ix_receipts_provider_id", "provider_id"),
    Index("ix_receipts_message_id", "message_id"),
    Index("ix_receipts_alias", "alias"),
)

message_parts = Table(  # parts 2..n of a multipart message under their own provider ids
    "message_parts",
    metadata,
    Column("provider_id", String(100), nullable=False),
    Column("message_id", Integer, ForeignKey("messages.id"), nullable=False),
    Column("part", Integer, nullable=False),  # 2..n
    Index("ix_message_parts_provider_id", "provider_id"),
)

inbound = Table(
    "inbound",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("provider", String(100), nullable=False),
    Column("source", String(64), nullable=False),
    Column("destination", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("message_id", Integer, ForeignKey("messages.id")),  # the message it answers, when known
    Column("batch_id", Integer, ForeignKey("batches.id")),
    Column("opt_out", Integer, nullable=False, server_default="0"),
    Column("raw", Text, nullable=False, server_default="{}"),
    Column("mo_id", String(100)),  # the provider's id of the MO (polling returns the same ones for days)
    Index("ix_inbound_source", "source"),
    Index("ix_inbound_mo_id", "provider", "mo_id"),
)

blocklist = Table(
    "blocklist",
    metadata,
    Column("profile", String(100), primary_key=True),
    Column("destination", String(64), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("added_at", Float, nullable=False),
)

provider_state = Table(  # a row while a provider is paused by a whole-provider failure
    "provider_state",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("error", Text, nullable=False),
    Column("since", Float, nullable=False),
)

#: Column order of a bulk-inserted message row (see Store.add_messages).
MESSAGE_INSERT_COLUMNS = (
    "batch_id", "line", "status", "destination", "text", "correlation_id",
    "extra_info", "params", "raw", "reason", "attempts",
)
