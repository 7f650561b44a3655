"""Delivery: the dispatcher that takes due messages from the store and hands them, in chunks, to each
provider (``provider.Provider``: the channel opened on demand, paused by one back-off when it fails whole).
"""
