"""The batch fixtures (``shoot``, ``plugins_dist``) for the security tests of ``tst batch``."""

from ..batching.conftest import plugins_dist, shoot  # noqa: F401 - fixtures
