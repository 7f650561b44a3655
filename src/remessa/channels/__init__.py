"""Delivery channels: one interface (``base.Channel``), one module or package per transport — the embedded
provider (``embedded``) and SMPP (``smpp/``) — each given messages (remessa.model) and returning outcomes,
and handing what the provider reports back to a ``base.ReceiptSink``.
"""
