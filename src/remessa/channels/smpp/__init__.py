"""The SMPP 3.4 transceiver pool (seed 002, "API SMPP"): settings, the channel, its binds and their pacing,
the PDUs it writes and reads (wire, session), SMS text encoding and splitting (text), receipt parsing.
"""
