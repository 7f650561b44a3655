"""The SMSC simulator: an SMPP 3.4 server (``server``) with its own PDU codec (``pdu``), session state and
fault injection (``state``), and the command-line options of ``remessa sandbox`` (``standalone``).
"""
