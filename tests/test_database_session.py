"""Every PostgreSQL session gets the settings the design relies on (project/settings.py): an
open transaction cannot hold the event stream back forever, and no JIT compile stalls a query."""
from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_sessions_bound_idle_transactions_and_skip_jit():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('idle_in_transaction_session_timeout'), current_setting('jit')")
        idle_timeout, jit = cursor.fetchone()
    assert idle_timeout not in ("0", "0ms")
    assert jit == "off"
