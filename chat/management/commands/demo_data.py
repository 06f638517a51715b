"""``manage.py demo_data``: a branch, an inbox, three operators and a few conversations."""
from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from chat.models import ContactInbox, Inbox, InboxMember, OperatorProfile, Role
from chat.services.branches import branch_create
from chat.services.contacts import contact_create
from chat.services.conversations import conversation_set_priority
from chat.services.messages import message_create, visitor_message_send

DEMO_WEBSITE_TOKEN = "demo-website-token"
DEMO_OPERATORS = [
    # username, password, role, display name
    ("admin", "admin-demo-pass", Role.ADMINISTRATOR, "Ada Admin"),
    ("supervisor", "supervisor-demo-pass", Role.SUPERVISOR, "Sam Supervisor"),
    ("agent", "agent-demo-pass", Role.AGENT, "Ann Agent"),
]
DEMO_CONVERSATIONS = [
    ("Grace Hopper", "grace@example.com", ["Hi! My order #1042 has not arrived yet.", "It was due on Monday."],
     "Sorry about that, Grace. Let me check with the carrier."),
    ("Linus T.", "linus@example.com", ["Can I change the delivery address?"], None),
    ("Margaret H.", None, ["Do you ship to Iceland?"], "We do, shipping takes 5 to 7 days."),
]


class Command(BaseCommand):
    help = "Load demo data (a branch, an inbox, operators, conversations) unless data exists."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if any inbox exists.")

    def handle(self, *args: Any, if_empty: bool = False, **options: Any) -> None:
        if Inbox.objects.exists():
            if not if_empty:
                self.stdout.write("Data already present; demo data not loaded.")
            return
        User = get_user_model()
        with transaction.atomic():
            branch = branch_create(name="Main branch", is_default=True)
            inbox = Inbox.objects.create(
                branch=branch,
                name="Website",
                website_token=DEMO_WEBSITE_TOKEN,
                greeting="Hi there! Ask us anything, we usually answer within minutes.",
                allowed_origins=["http://localhost:8000", "http://127.0.0.1:8000"],
            )
            operators = {}
            for username, password, role, name in DEMO_OPERATORS:
                user = User.objects.create_user(
                    username=username, password=password, email=f"{username}@example.com",
                    is_staff=role == Role.ADMINISTRATOR, is_superuser=role == Role.ADMINISTRATOR,
                )
                profile = OperatorProfile.objects.create(user=user, role=role, display_name=name)
                profile.branches.add(branch)
                InboxMember.objects.create(inbox=inbox, user=user)
                operators[role] = user

        for index, (name, email, questions, answer) in enumerate(DEMO_CONVERSATIONS):
            contact = contact_create(name=name, email=email)
            contact_inbox = ContactInbox.objects.create(contact=contact, inbox=inbox, source_id=f"demo-visitor-{index}")
            conversation = None
            for question in questions:
                conversation = visitor_message_send(contact_inbox_id=contact_inbox.pk, content=question).message.conversation
            assert conversation is not None  # every demo conversation has at least one question
            if answer:
                message_create(conversation_id=conversation.pk, direction="outgoing", content=answer,
                               sender_user=operators[Role.AGENT])
            if index == 0:
                message_create(conversation_id=conversation.pk, direction="outgoing", private=True,
                               content="Carrier says it is stuck in customs.", sender_user=operators[Role.AGENT])
                conversation_set_priority(conversation_id=conversation.pk, priority="high",
                                          actor_user=operators[Role.AGENT])

        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(f"  Widget website token: {DEMO_WEBSITE_TOKEN}")
        for username, password, role, _ in DEMO_OPERATORS:
            self.stdout.write(f"  {role:<14} login: {username} / {password}")
