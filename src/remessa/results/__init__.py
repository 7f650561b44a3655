"""The end of a file's journey: settlement (move the file to success/ or error/, settle it when its receipts
are complete), the one writer of its report, summary and retry file, and each batch's progress for status.
"""
