from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from chat.models import Conversation, Inbox, Message


@pytest.mark.django_db(transaction=True)
def test_demo_data_loads_once_with_working_logins():
    call_command("demo_data")
    inbox = Inbox.objects.get()
    assert inbox.website_token == "demo-website-token"
    assert Conversation.objects.count() == 3
    assert Message.objects.filter(private=True).count() == 1
    for username, password in [("admin", "admin-demo-pass"), ("agent", "agent-demo-pass")]:
        assert authenticate(username=username, password=password) is not None
    call_command("demo_data", "--if-empty")
    assert Conversation.objects.count() == 3
