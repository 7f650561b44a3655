"""Scheduling: when a batch may send. ``window`` is the pure arithmetic of windows, start and expiry in a
time zone; ``planner`` turns a stored Timing into a plan, expires what is overdue, computes the ETA and arms
the alarm that wakes the loop.
"""
