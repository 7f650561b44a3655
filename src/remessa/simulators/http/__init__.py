"""The provider's HTTPS APIs simulated on a real socket: SMS bulk sends with sent-status callbacks and delivery
reports (by webhook and by polling), WhatsApp sends with sent/delivered/read webhooks and replies (MO), and
fault injection (``server``; its records in ``state``, the WhatsApp shapes in ``whatsapp``).
"""
