"""The provider's SMS HTTPS API simulated on a real socket: bulk sends, sent-status callbacks and delivery
reports by webhook and by polling, and fault injection (``server``, with its records in ``state``).
"""
