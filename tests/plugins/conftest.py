"""Fixtures for the plugin tests."""

from ..test_cli import cli  # noqa: F401  (the `cli` fixture: run `tst` in-process)
