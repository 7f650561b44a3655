"""Intake: a file claimed from an inbox is parsed (``formats/``, one parser per format), every row validated
(``validate``, ``phone``), its timing decided once (``timing``), and the rows stored as a batch (``intake``).
"""
