"""Factories for test data (factory_boy)."""
from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from chat.models import Branch, Contact, ContactInbox, Conversation, Inbox, InboxMember, OperatorProfile, Role


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch

    name = factory.Sequence(lambda n: f"Branch {n}")


class InboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inbox

    branch = factory.SubFactory(BranchFactory)
    name = factory.Sequence(lambda n: f"Inbox {n}")
    allowed_origins = factory.LazyFunction(lambda: ["https://shop.example"])


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "password123")

    @factory.post_generation
    def profile(self, create, extracted, **kwargs):
        if create:
            OperatorProfile.objects.update_or_create(
                user=self, defaults={"role": extracted or Role.AGENT, "display_name": self.username.title()}
            )
            self.save()


class InboxMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboxMember

    inbox = factory.SubFactory(InboxFactory)
    user = factory.SubFactory(UserFactory)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    name = factory.Sequence(lambda n: f"Visitor {n}")


class ContactInboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactInbox

    contact = factory.SubFactory(ContactFactory)
    inbox = factory.SubFactory(InboxFactory)
    source_id = factory.Sequence(lambda n: f"visitor-{n}")


def make_conversation(*, contact_inbox: ContactInbox | None = None, **kwargs) -> Conversation:
    """A conversation created through the service (display id, event), like production does."""
    from chat.services.conversations import conversation_create

    return conversation_create(contact_inbox=contact_inbox or ContactInboxFactory(), **kwargs)
