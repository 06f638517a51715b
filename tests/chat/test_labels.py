"""Labels (docs/desk.md "Labels"): the catalogue's rules and a conversation's set."""
from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from chat.activity import render_activity
from chat.errors import Conflict, InvalidData, NotFound
from chat.models import Conversation, Event, Label, Message, MessageDirection
from chat.payloads import conversation_payload, widget_conversation_view
from chat.services.conversations import conversation_for_event
from chat.services.labels import (
    LABELS_PER_CONVERSATION_MAX,
    conversation_set_labels,
    label_create,
    label_delete,
    label_update,
)
from tests.concurrency import run_concurrently
from tests.factories import UserFactory, make_conversation

pytestmark = pytest.mark.django_db


def labels_of(conversation_id: int) -> list[str]:
    return sorted(Conversation.objects.get(pk=conversation_id).labels.values_list("name", flat=True))


def test_names_are_trimmed_lower_cased_and_validated():
    label = label_create(name="  VIP  ", color="#AABBCC", description=" big ")
    assert (label.name, label.color, label.description) == ("vip", "#aabbcc", "big")
    assert label_create(name="Zurück_2-b").name == "zurück_2-b"  # letters of any script, digits, - and _
    assert label_create(name="x" * 50).color == "#1f93ff"  # the default colour
    for bad in ["", "   ", "x" * 51, "two words", "<b>x</b>", "a/b", "tab\there", "nul\x00", 7, None]:
        with pytest.raises(InvalidData):
            label_create(name=bad)
    for bad in ["red", "#abc", "#gggggg", "#aabbccdd", " #aabbcc", 123]:
        with pytest.raises(InvalidData):
            label_create(name="colour-test", color=bad)
    with pytest.raises(InvalidData):
        label_create(name="long-description", description="d" * 201)
    assert not Label.objects.filter(name__in=["colour-test", "long-description"]).exists()


def test_a_duplicate_name_is_a_conflict_whatever_its_case():
    label_create(name="vip")
    with pytest.raises(Conflict) as caught:
        label_create(name=" VIP")
    assert caught.value.http_status == 409 and caught.value.fields == {"name": ["A label with this name exists."]}
    other = label_create(name="refund")
    with pytest.raises(Conflict):
        label_update(label_id=other.pk, name="Vip")
    assert Label.objects.get(pk=other.pk).name == "refund"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_administrators_creating_the_same_label_at_once_get_one_label_and_one_conflict():
    for round_ in range(5):
        name = f"race-{round_}"
        results = run_concurrently(lambda i, name=name: label_create(name=name.upper() if i else name), 2)
        created = [r for r in results if isinstance(r, Label)]
        refused = [r for r in results if isinstance(r, Exception)]
        assert len(created) == 1 and len(refused) == 1, results
        assert isinstance(refused[0], Conflict)
        assert Label.objects.filter(name=name).count() == 1


def test_setting_labels_adds_an_activity_line_and_emits_conversation_updated_once(published):
    conversation = make_conversation()
    for name in ("vip", "refund", "late"):
        label_create(name=name)
    ann = UserFactory(username="ann")
    published.clear()
    result = conversation_set_labels(conversation_id=conversation.pk, labels=["Refund", "vip", "vip "], actor_user=ann)
    assert labels_of(conversation.pk) == ["refund", "vip"]
    assert conversation_payload(result)["labels"] == ["refund", "vip"]
    updated = published.of_type("conversation.updated")
    assert len(updated) == 1 and updated[0].payload["labels"] == ["refund", "vip"]
    assert updated[0].audience == "operators"
    activity = Message.objects.filter(conversation=conversation, direction=MessageDirection.ACTIVITY).latest("id")
    assert activity.content == "Labels: +refund +vip by Ann"
    assert published.of_type("message.created")[-1].audience == "operators"

    published.clear()
    conversation_set_labels(conversation_id=conversation.pk, labels=["late", "vip"], actor_user=ann)
    activity = Message.objects.filter(conversation=conversation, direction=MessageDirection.ACTIVITY).latest("id")
    assert activity.content == "Labels: +late \u2212refund by Ann"
    # As data, so each reader gets it in their language (chat/activity.py).
    assert activity.content_attributes["activity"]["added"] == ["late"]
    assert activity.content_attributes["activity"]["removed"] == ["refund"]
    assert render_activity(activity.content_attributes["activity"], "ru") == "Метки изменены оператором Ann: +late \u2212refund"
    assert published.of_type("conversation.updated")[0].payload["labels"] == ["late", "vip"]

    # The same set again: nothing written, nothing emitted.
    published.clear()
    lines = Message.objects.filter(conversation=conversation).count()
    conversation_set_labels(conversation_id=conversation.pk, labels=["VIP", "late"], actor_user=ann)
    assert published == []
    assert Message.objects.filter(conversation=conversation).count() == lines

    conversation_set_labels(conversation_id=conversation.pk, labels=[], actor_user=ann)
    assert labels_of(conversation.pk) == []


def test_unknown_and_invalid_names_are_refused_and_nothing_changes(published):
    conversation = make_conversation()
    label_create(name="vip")
    conversation_set_labels(conversation_id=conversation.pk, labels=["vip"])
    published.clear()
    with pytest.raises(InvalidData) as caught:
        conversation_set_labels(conversation_id=conversation.pk, labels=["vip", "nope", "gone"])
    assert "gone" in caught.value.message and "nope" in caught.value.message
    for bad in ["vip", None, [1], ["<script>"], ["a b"], [{"name": "vip"}]]:
        with pytest.raises(InvalidData):
            conversation_set_labels(conversation_id=conversation.pk, labels=bad)
    many = [f"l{i}" for i in range(LABELS_PER_CONVERSATION_MAX + 1)]
    for name in many:
        label_create(name=name)
    published.clear()
    with pytest.raises(InvalidData):
        conversation_set_labels(conversation_id=conversation.pk, labels=many)
    assert labels_of(conversation.pk) == ["vip"]
    assert published == []
    with pytest.raises(NotFound):
        conversation_set_labels(conversation_id=10**9, labels=["vip"])


def test_the_widget_never_sees_labels():
    conversation = make_conversation()
    label_create(name="angry-customer")
    conversation_set_labels(conversation_id=conversation.pk, labels=["angry-customer"])
    view = widget_conversation_view(conversation_payload(conversation_for_event(conversation.pk)))
    assert "labels" not in view


def test_deleting_a_label_removes_it_from_conversations_and_emits_their_updates(published):
    first, second, untouched = make_conversation(), make_conversation(), make_conversation()
    vip = label_create(name="vip")
    label_create(name="refund")
    conversation_set_labels(conversation_id=first.pk, labels=["vip", "refund"])
    conversation_set_labels(conversation_id=second.pk, labels=["vip"])
    conversation_set_labels(conversation_id=untouched.pk, labels=["refund"])
    published.clear()
    assert label_delete(label_id=vip.pk) == sorted([first.pk, second.pk])
    assert labels_of(first.pk) == ["refund"] and labels_of(second.pk) == [] and labels_of(untouched.pk) == ["refund"]
    updates = {e.conversation_id: e.payload["labels"] for e in published.of_type("conversation.updated")}
    assert updates == {first.pk: ["refund"], second.pk: []}
    assert published.types() == ["conversation.updated", "conversation.updated"]  # no activity line
    with pytest.raises(NotFound):
        label_delete(label_id=vip.pk)


def test_renaming_a_label_re_emits_the_conversations_carrying_it(published):
    conversation = make_conversation()
    label = label_create(name="vip")
    conversation_set_labels(conversation_id=conversation.pk, labels=["vip"])
    published.clear()
    label_update(label_id=label.pk, color="#000000")  # not a rename: no event
    assert published == []
    label_update(label_id=label.pk, name="Gold")
    assert [e.payload["labels"] for e in published.of_type("conversation.updated")] == [["gold"]]
    with pytest.raises(NotFound):
        label_update(label_id=10**9, name="x")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_operators_setting_labels_at_once_end_with_one_of_the_two_sets():
    names = ["a", "b", "c", "d"]
    for name in names:
        label_create(name=name)
    sets = [["a", "b"], ["c", "d"]]
    for _ in range(8):
        conversation = make_conversation()
        conversation_set_labels(conversation_id=conversation.pk, labels=["a", "c"])
        results = run_concurrently(
            lambda i, cid=conversation.pk: conversation_set_labels(conversation_id=cid, labels=sets[i]), 2)
        assert not [r for r in results if isinstance(r, Exception)], results
        final = labels_of(conversation.pk)
        assert final in sets
        # The last conversation.updated of the conversation (by id) shows the final set.
        last = Event.objects.filter(conversation=conversation, type="conversation.updated").latest("id")
        assert last.payload["labels"] == final


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_deleting_a_label_while_a_setter_holds_it_waits_and_never_errs():
    """A setter holds the conversation and the label (KEY SHARE); the delete waits for it, then
    removes the label everywhere; no deadlock, no foreign-key error, the last event is right."""
    conversation = make_conversation()
    vip = label_create(name="vip")
    label_create(name="other")
    holding = threading.Event()
    release = threading.Event()
    outcome: dict[str, object] = {}

    def setter() -> None:
        try:
            with transaction.atomic():
                conversation_set_labels(conversation_id=conversation.pk, labels=["vip", "other"])
                holding.set()
                release.wait(10)
            outcome["setter"] = "ok"
        except Exception as exc:  # asserted below
            outcome["setter"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=setter)
    thread.start()
    assert holding.wait(10)
    deleter_result: dict[str, object] = {}

    def deleter() -> None:
        try:
            deleter_result["ids"] = label_delete(label_id=vip.pk)
        except Exception as exc:  # asserted below
            deleter_result["ids"] = exc
        finally:
            connection.close()

    second = threading.Thread(target=deleter)
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting for the setter's hold on the label
    release.set()
    thread.join(10)
    second.join(10)
    assert outcome["setter"] == "ok"
    assert deleter_result["ids"] == [conversation.pk]
    assert labels_of(conversation.pk) == ["other"]
    last = Event.objects.filter(conversation=conversation, type="conversation.updated").latest("id")
    assert last.payload["labels"] == ["other"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_setting_a_label_being_deleted_waits_then_is_a_clean_invalid_data():
    conversation = make_conversation()
    vip = label_create(name="vip")
    deleted = threading.Event()
    go = threading.Event()
    outcome: dict[str, object] = {}

    def deleter() -> None:
        try:
            with transaction.atomic():
                label_delete(label_id=vip.pk)
                deleted.set()
                go.wait(10)  # not committed yet: the label row stays locked
        finally:
            connection.close()

    def setter() -> None:
        try:
            outcome["result"] = conversation_set_labels(conversation_id=conversation.pk, labels=["vip"])
        except Exception as exc:  # asserted below
            outcome["result"] = exc
        finally:
            connection.close()

    first = threading.Thread(target=deleter)
    first.start()
    assert deleted.wait(10)
    second = threading.Thread(target=setter)
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waits for the delete's lock on the label
    go.set()
    first.join(10)
    second.join(10)
    assert isinstance(outcome["result"], InvalidData), outcome
    assert labels_of(conversation.pk) == []
