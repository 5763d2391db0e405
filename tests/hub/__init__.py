"""Fetching weights: records, the loopback server, `tst weights`, first use."""
