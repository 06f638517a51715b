"""Presence's durable state: the last status published for each operator.

The live part (which sockets are connected, until when) lives in the shared store; this row is
what others were told, and the lock that makes each transition happen once, whatever the number
of processes and tabs (presence/tracker.py).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models

from chat.models import Availability


class OperatorPresence(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="presence"
    )
    # Effective status last broadcast: online, busy or offline.
    status = models.CharField(max_length=10, choices=Availability.choices, default=Availability.OFFLINE)
    # When ``status`` last changed (offline since, for the release delay).
    changed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["status", "changed_at"], name="presence_status_changed")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.status}"
