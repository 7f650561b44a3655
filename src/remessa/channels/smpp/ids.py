"""The form of a provider's message ids, learned from its submit_sm_resps, to read the ids in its receipts.

Some SMSCs answer a submission with a hex id and write the same number in decimal in the receipt (or the
reverse), or drop a UUID's dashes. Which form a provider uses is learned from the ids it answers with, never
guessed from a receipt alone: "1544" is a complete decimal id on one SMSC and the hex form of 0x1544 on
another, and reading it the wrong way hands one message's receipt to another. A receipt's id is taken as it
is; only when it cannot be an id in the provider's own form (a decimal number from a provider whose ids have
hex letters and another length, hex letters from a provider of decimal ids, a UUID without dashes) is the
provider's form of it offered as the receipt's `alias`, which the store tries only where the id itself
matches nothing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_DECIMAL = re.compile(r"^[0-9]+$")
MAX_HEX_DIGITS = 16  # 64-bit ids: a longer number is not a converted id


def clean(message_id: str) -> str:
    """An id as the store keeps it: lower case, without padding NULs or blanks."""
    return message_id.strip().strip("\x00").strip().lower()


class IdForms:
    """What the ids of one provider look like (UUIDs, hex with letters, plain decimal) and their lengths."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.uuid = False
        self.hex = False  # some id had a letter a-f: the provider writes hex
        self.decimal = False  # some id was all digits (a hex id may be too: `hex` decides)
        self.lengths: set[int] = set()

    def learn(self, ids: Iterable[str]) -> None:
        """Take note of ids the provider answered submissions with."""
        with self._lock:
            for raw in ids:
                pid = clean(raw)
                if _UUID.match(pid):
                    self.uuid = True
                elif _DECIMAL.match(pid):
                    self.decimal = True
                elif _HEX.match(pid):
                    self.hex = True
                else:
                    continue
                if len(self.lengths) < 64:
                    self.lengths.add(len(pid))

    def alias(self, receipt_id: str) -> str:
        """The provider's own form of `receipt_id` when the receipt wrote it in another form, else ""."""
        rid = clean(receipt_id)
        with self._lock:
            uuid, hexed, decimal, lengths = self.uuid, self.hex, self.decimal, set(self.lengths)
        if uuid and len(rid) == 32 and _HEX.match(rid):
            return f"{rid[:8]}-{rid[8:12]}-{rid[12:16]}-{rid[16:20]}-{rid[20:]}"
        if hexed and _DECIMAL.match(rid) and len(rid) not in lengths:
            value = int(rid)
            if value >= 16 ** MAX_HEX_DIGITS:
                return ""
            form = format(value, "x")
            width = next(iter(lengths)) if len(lengths) == 1 else 0  # fixed-width ids keep their zeros
            return form.zfill(width)
        if decimal and not hexed and _HEX.match(rid) and not _DECIMAL.match(rid) and len(rid) <= MAX_HEX_DIGITS:
            return str(int(rid, 16))
        return ""
