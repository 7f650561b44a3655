"""Simulators of the provider's servers, speaking the real protocols, for users trying remessa out with no
account (``remessa sandbox``) and for the tests: ``smsc/`` is an SMPP 3.4 SMSC.
"""
