"""Branches and the cached default branch."""
from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext_lazy as _

from chat.errors import Conflict
from chat.models import Branch

DEFAULT_BRANCH_CACHE_KEY = "branch:default:id"


def get_default_branch() -> Branch:
    """The default branch (created on first use), its id cached for an hour."""
    branch_id = cache.get(DEFAULT_BRANCH_CACHE_KEY)
    if branch_id is not None:
        branch = Branch.objects.filter(pk=branch_id, is_default=True).first()
        if branch is not None:
            return branch
    branch = Branch.objects.filter(is_default=True).first()
    if branch is None:
        with transaction.atomic():
            branch = Branch.objects.select_for_update(no_key=True).filter(is_default=True).first()
            if branch is None:
                branch = Branch.objects.create(name="Main", is_default=True)
    cache.set(DEFAULT_BRANCH_CACHE_KEY, branch.pk, settings.DEFAULT_BRANCH_CACHE_SECONDS)
    return branch


def get_default_branch_id_cached() -> int | None:
    """The cached default branch id, without touching the database (None if not cached)."""
    value = cache.get(DEFAULT_BRANCH_CACHE_KEY)
    return None if value is None else int(value)


def invalidate_default_branch() -> None:
    """Forget the cached default branch: call after any change to a branch's default flag."""
    cache.delete(DEFAULT_BRANCH_CACHE_KEY)


@transaction.atomic
def branch_create(*, name: str, is_default: bool = False) -> Branch:
    """Create a branch; making it the default unsets the previous default."""
    if is_default:
        Branch.objects.filter(is_default=True).update(is_default=False)
    branch = Branch.objects.create(name=name, is_default=is_default)
    transaction.on_commit(invalidate_default_branch)
    return branch


@transaction.atomic
def branch_update(*, branch: Branch, name: str | None = None, is_default: bool | None = None) -> Branch:
    """Rename a branch or change which branch is the default."""
    if name is not None:
        branch.name = name
    if is_default is not None and is_default != branch.is_default:
        if is_default:
            Branch.objects.filter(is_default=True).exclude(pk=branch.pk).update(is_default=False)
        branch.is_default = is_default
    branch.save()
    transaction.on_commit(invalidate_default_branch)
    return branch


@transaction.atomic
def branch_delete(*, branch: Branch) -> None:
    """Delete a branch that has no inboxes and no conversations (Conflict otherwise); the
    cached default is forgotten after commit."""
    try:
        with transaction.atomic():
            branch.delete()
    except ProtectedError:
        raise Conflict(_("The branch still has inboxes or conversations.")) from None
    transaction.on_commit(invalidate_default_branch)
