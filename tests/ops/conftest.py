"""The realtime tests' fixtures (a world of inboxes, operators and visitors), shared here."""
from tests.realtime.conftest import _fast_passwords, world  # noqa: F401
