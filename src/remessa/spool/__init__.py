"""The spool: its folders and the rules for taking files from an inbox (tree), what an inbox entry may be
(entries), and the observer that notices files arriving (watcher)."""

from remessa.spool.entries import (
    FOLDERS,
    NAME_MAX_BYTES,
    SIDECAR_MAX_BYTES,
    SIDECAR_SUFFIX,
    changed,
    eligible,
    identity,
    name_problem,
    read_small,
    refusal,
    shown_name,
    sidecar_of,
)
from remessa.spool.tree import Spool
from remessa.spool.watcher import Watcher

__all__ = [
    "FOLDERS", "NAME_MAX_BYTES", "SIDECAR_MAX_BYTES", "SIDECAR_SUFFIX", "Spool", "Watcher", "changed", "eligible",
    "identity", "name_problem", "read_small", "refusal", "shown_name", "sidecar_of",
]
