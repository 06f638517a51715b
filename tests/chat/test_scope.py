"""The caller scope (chat/selectors/scope.py): one administrator rule, its Python and SQL forms
agree, and every transport asks it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.models import Conversation, OperatorProfile, Role
from chat.selectors.scope import (
    administrator_q,
    caller_scope,
    caller_scope_for,
    conversation_visible_q,
    effective_role,
)
from tests.factories import ContactInboxFactory, InboxFactory, InboxMemberFactory, UserFactory, make_conversation

ROOT = Path(__file__).resolve().parents[2]
User = get_user_model()


@pytest.mark.django_db
@settings(max_examples=40, deadline=None)
@given(is_superuser=st.booleans(), is_active=st.booleans(),
       role=st.sampled_from([None, Role.AGENT, Role.SUPERVISOR, Role.ADMINISTRATOR]))
def test_python_and_sql_forms_of_the_administrator_rule_agree(is_superuser, is_active, role):
    user = User.objects.create(username=f"u{User.objects.count()}", is_superuser=is_superuser, is_active=is_active)
    if role is not None:
        OperatorProfile.objects.create(user=user, role=role)
    python = is_active and effective_role(is_superuser=is_superuser, role=role) == Role.ADMINISTRATOR
    sql = User.objects.filter(administrator_q(), pk=user.pk).exists()
    assert python == sql
    scope = caller_scope_for(user_id=user.pk)
    assert (scope is not None and scope.is_admin) == python
    assert caller_scope(User.objects.get(pk=user.pk)).is_admin == python


@pytest.mark.django_db
def test_visibility_follows_role_membership_and_activity_as_they_are_now():
    mine, other = InboxFactory(), InboxFactory()
    agent = UserFactory()
    InboxMemberFactory(inbox=mine, user=agent)
    here = make_conversation(contact_inbox=ContactInboxFactory(inbox=mine))
    there = make_conversation(contact_inbox=ContactInboxFactory(inbox=other))

    def visible() -> set[int]:
        return set(Conversation.objects.filter(conversation_visible_q(user_id=agent.pk)).values_list("pk", flat=True))

    assert visible() == {here.pk}
    assert caller_scope_for(user_id=agent.pk).inbox_ids() == frozenset({mine.pk})
    OperatorProfile.objects.filter(user=agent).update(role=Role.ADMINISTRATOR)
    assert visible() == {here.pk, there.pk}
    assert caller_scope_for(user_id=agent.pk).inbox_ids() is None
    OperatorProfile.objects.filter(user=agent).update(role=Role.AGENT)  # demoted
    assert visible() == {here.pk}
    User.objects.filter(pk=agent.pk).update(is_active=False)  # deactivated
    assert visible() == set()
    assert caller_scope_for(user_id=agent.pk) is None


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_administrator_rule_is_written_once():
    """No transport or app decides who is an administrator by itself."""
    offenders = []
    for path in [*ROOT.glob("chat/**/*.py"), *ROOT.glob("assignment/**/*.py"), *ROOT.glob("frontend/**/*.py"),
                 *ROOT.glob("presence/**/*.py")]:
        if path.name == "scope.py" or "migrations" in path.parts or "management" in path.parts:
            continue
        text = path.read_text()
        if ".is_superuser" in text or "is_superuser=" in text or "Role.ADMINISTRATOR" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_dependencies_point_one_way():
    assert not any(m.startswith("chat.models") for m in imports_of(ROOT / "frontend" / "views.py"))
    for path in ROOT.glob("assignment/**/*.py"):
        assert "presence.models" not in imports_of(path), path
    domain = [*ROOT.glob("chat/services/*.py"), *ROOT.glob("chat/selectors/*.py"), *ROOT.glob("chat/*.py")]
    for path in domain:  # chat's transports (consumers, REST) may call assignment; its domain may not
        assert not any(m.startswith(("assignment", "presence")) for m in imports_of(path)), path
    assert not (ROOT / "chat" / "api" / "hooks.py").exists()
