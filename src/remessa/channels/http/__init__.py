"""HTTP channels and their wire formats."""
