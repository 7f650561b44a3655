"""remessa: a daemon that sends SMS and WhatsApp campaigns in bulk from spool files."""

__version__ = "0.1.0"
