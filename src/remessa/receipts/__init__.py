"""Receipts and inbound messages on their way in: the one sink every transport feeds (SMPP deliver_sm
today; webhooks, status polling and SFTP outcomes next), which persists them and applies opt-outs.
"""
