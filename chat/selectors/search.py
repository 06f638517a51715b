"""Free-text search: the one owner of "conversations matching q" and "messages matching q".

PostgreSQL: message content through ``to_tsvector('simple', content) @@ websearch_to_tsquery
('simple', q)`` (GIN ``msg_content_tsv``; websearch syntax: words are ANDed, ``"a phrase"``,
``-excluded``, ``or``), contact name/email/phone by case-insensitive substring (``icontains``,
answered by the pg_trgm GIN indexes on ``upper(x)``). Indexes and the reasons for 'simple':
chat/migrations/0002_search.py.

Embedded mode (SQLite): the same API over ``icontains``; the query is read the websearch way
(words ANDed, quoted phrases, ``-word``, ``or``) so results agree on simple queries.

A query with no letter or digit (only punctuation) matches nothing, on every database.
Activity lines ("Resolved by Ann") are never matched; private notes are (operators see them).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet, Subquery, TextField, Value
from django.db.models.expressions import RawSQL

from chat.models import Conversation, Message, MessageDirection
from chat.payloads import iso, user_summary
from chat.selectors.scope import caller_scope

# Conversation list on PostgreSQL: first look for matches among this many newest candidates
# (per-row probes, cheap when matches are common), and only when fewer than a page turn up,
# gather every match through the indexes (cheap when matches are rare). See _pg_ids.
WALK_WINDOW = 150
MESSAGE_WALK_WINDOW = 500
SNIPPET_START, SNIPPET_STOP = "\ue000", "\ue001"  # private-use: never left in content (stripped)
SNIPPET_CHARS = 160
_WORD = re.compile(r"\w")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def search_has_terms(q: str) -> bool:
    """False for a blank or punctuation-only query: it matches nothing."""
    return bool(_WORD.search(q))


class _ColumnAndQuery(Func):
    """A text-search expression over one column and the search box's ``q``: compiles both and
    hands them to ``sql``, so the SQL is written out whole (the index expressions must match)."""

    def __init__(self, column: str, q: str) -> None:
        super().__init__(F(column), Value(q, output_field=TextField()))

    def as_sql(self, compiler: Any, connection: Any, function: str | None = None, template: str | None = None,
               arg_joiner: str | None = None, **extra_context: Any) -> Any:
        column, column_params = compiler.compile(self.source_expressions[0])
        query, query_params = compiler.compile(self.source_expressions[1])
        return self.sql(column, column_params, query, query_params)

    def sql(self, column: str, column_params: list[Any], query: str, query_params: list[Any]) -> tuple[str, list[Any]]:
        raise NotImplementedError


class _TextMatches(_ColumnAndQuery):
    """``to_tsvector('simple', <column>) @@ websearch_to_tsquery('simple', <q>)``: the expression
    of the msg_content_tsv index, so the planner can use it."""

    output_field = BooleanField()

    def sql(self, column: str, column_params: list[Any], query: str, query_params: list[Any]) -> tuple[str, list[Any]]:
        sql = f"to_tsvector('simple'::regconfig, {column}) @@ websearch_to_tsquery('simple'::regconfig, {query})"
        return sql, [*column_params, *query_params]


class _Headline(_ColumnAndQuery):
    """``ts_headline`` with private-use markers (stripped from the content first)."""

    output_field = TextField()

    def sql(self, column: str, column_params: list[Any], query: str, query_params: list[Any]) -> tuple[str, list[Any]]:
        options = (f"StartSel={SNIPPET_START}, StopSel={SNIPPET_STOP}, MaxWords=30, MinWords=12, "
                   "ShortWord=0")
        sql = (f"ts_headline('simple'::regconfig, replace(replace({column}, %s, ''), %s, ''), "
               f"websearch_to_tsquery('simple'::regconfig, {query}), %s)")
        return sql, [*column_params, SNIPPET_START, SNIPPET_STOP, *query_params, options]


# --- The websearch reading for the embedded mode ----------------------------------------------


@dataclass(frozen=True)
class _Clause:
    include: tuple[str, ...]
    exclude: tuple[str, ...]


def _clauses(q: str) -> list[_Clause]:
    """``websearch_to_tsquery``'s grammar, read as substrings: groups separated by ``or``, each
    a conjunction of words/phrases, ``-`` excluding."""
    groups: list[_Clause] = []
    include: list[str] = []
    exclude: list[str] = []
    for match in _TOKEN.finditer(q):
        negated, phrase, word = match.group(1), match.group(2), match.group(3)
        if word is not None and word.lower() == "or":
            if include or exclude:
                groups.append(_Clause(tuple(include), tuple(exclude)))
            include, exclude = [], []
            continue
        if word is not None and word.startswith("-") and len(word) > 1:
            negated, word = "-", word[1:]
        text = (phrase if phrase is not None else word or "").strip()
        if not search_has_terms(text):
            continue
        (exclude if negated else include).append(text)
    if include or exclude:
        groups.append(_Clause(tuple(include), tuple(exclude)))
    return [g for g in groups if g.include]


def _substring_q(q: str, field: str) -> Q:
    result = Q(pk__in=[])
    for clause in _clauses(q):
        group = Q()
        for text in clause.include:
            group &= Q(**{f"{field}__icontains": text})
        for text in clause.exclude:
            group &= ~Q(**{f"{field}__icontains": text})
        result |= group
    return result


def _terms(q: str) -> list[str]:
    return [text for clause in _clauses(q) for text in clause.include]


# --- Predicates -------------------------------------------------------------------------------


def messages_matching_q(*, q: str) -> Q:
    """A filter on Message rows: content matches ``q``; never an activity line."""
    if not search_has_terms(q):
        return Q(pk__in=[])
    if connection.vendor == "postgresql":
        text: Q = Q(_TextMatches("content", q))
    else:
        text = _substring_q(q, "content")
    return text & ~Q(direction=MessageDirection.ACTIVITY)


def _contact_q(q: str, prefix: str) -> Q:
    return (Q(**{f"{prefix}name__icontains": q}) | Q(**{f"{prefix}email__icontains": q})
            | Q(**{f"{prefix}phone__icontains": q}))


def conversations_matching_q(*, q: str, candidates: QuerySet[Conversation] | None = None,
                             limit: int | None = None) -> Q:
    """A filter on Conversation rows: the contact's name/email/phone contains ``q``, or one of
    its messages matches it (``messages_matching_q``).

    ``candidates`` and ``limit`` (PostgreSQL): the caller's filtered, keyset-bounded queryset and
    how many rows of it in (last_activity_at, id) desc order it will read; the filter then
    names exactly those rows, found in whichever way is cheap (see ``_pg_ids``). Without them
    (the tab counts) the filter is the plain predicate.
    """
    if not search_has_terms(q):
        return Q(pk__in=[])
    said = Message.objects.filter(messages_matching_q(q=q), conversation_id=OuterRef("pk"))
    plain = _contact_q(q, "contact__") | Q(Exists(said))
    if connection.vendor != "postgresql" or candidates is None or limit is None:
        if connection.vendor == "postgresql":
            # Counts: every match, gathered through the indexes (a hashed set, not per-row probes).
            said_ids = Message.objects.filter(messages_matching_q(q=q)).order_by().values("conversation_id")
            return _contact_q(q, "contact__") | Q(pk__in=said_ids)
        return plain
    return Q(pk__in=_pg_ids(candidates=candidates, q=q, plain=plain, limit=limit))


def _pg_ids(*, candidates: QuerySet[Conversation], q: str, plain: Q, limit: int) -> RawSQL:
    """The ids of the first ``limit`` matching candidates, newest activity first, in one statement.

    Two plans, because neither alone is fast for both common and rare text (docs/benchmarks.md):
    *walk* probes the ``WALK_WINDOW`` newest candidates one by one (an index probe of each one's
    messages) — a page of a common word is found in the first few dozen; *gather* collects every
    matching conversation from the GIN indexes and sorts them — cheap when they are few. The
    gather branch runs only when the walk found less than a page (a one-time filter: PostgreSQL
    skips the branch otherwise). Both are exact: the walk reads a prefix of the order.
    """
    order = ("-last_activity_at", "-id")
    window = candidates.order_by(*order).values("pk")[:WALK_WINDOW]
    walk = candidates.filter(pk__in=window).filter(plain).order_by(*order).values("pk")[:limit]
    said_ids = Message.objects.filter(messages_matching_q(q=q)).order_by().values("conversation_id")
    by_contact = Conversation.objects.filter(_contact_q(q, "contact__")).order_by().values("pk")
    gather = (candidates.filter(Q(pk__in=said_ids.union(by_contact, all=True)))
              .order_by(*order).values("pk")[:limit])
    walk_sql, walk_params = walk.query.sql_with_params()
    gather_sql, gather_params = gather.query.sql_with_params()
    sql = (f"WITH walk AS MATERIALIZED ({walk_sql}) SELECT pk FROM walk UNION ALL "
           f"SELECT pk FROM ({gather_sql}) AS gathered WHERE (SELECT count(*) FROM walk) < %s")
    return RawSQL(sql, (*walk_params, *gather_params, limit))


def _pg_message_ids(*, user: Any, q: str, before: int | None, limit: int) -> RawSQL:
    """The ids of the newest ``limit`` matching messages the operator sees, in one statement.

    Left to itself the planner walks the primary key backwards and tests every row until it has
    a page, which reads the whole table when the text is rare (4.5 s at 1M messages): its
    estimate for a word it has no statistics on is far too high. So, as for conversations:
    *walk* tests the ``MESSAGE_WALK_WINDOW`` newest messages in scope; *gather* (only when the
    walk found less than a page) reads every match from the GIN index behind an ``OFFSET 0``
    fence and sorts them by id (the fence keeps the planner from turning it back into the walk).
    """
    scope = caller_scope(user)
    scoped = Message.objects.filter(scope.inbox_q("conversation__inbox_id"))
    hits = Message.objects.filter(messages_matching_q(q=q))
    if before is not None:
        scoped, hits = scoped.filter(id__lt=before), hits.filter(id__lt=before)
    window = scoped.order_by("-id").values("pk")[:MESSAGE_WALK_WINDOW]
    walk = scoped.filter(pk__in=window).filter(messages_matching_q(q=q)).order_by("-id").values("pk")[:limit]
    walk_sql, walk_params = walk.query.sql_with_params()
    # Each hit carries its inbox, read by a scalar subquery (one primary-key probe per hit; the
    # planner cannot turn it into a join that hashes the whole conversation table, which it
    # does when it overestimates the hits); the scope is then a check of a few inbox ids.
    inbox_of = Conversation.objects.filter(pk=OuterRef("conversation_id")).values("inbox_id")[:1]
    hits_sql, hits_params = hits.order_by().values("pk", inbox=Subquery(inbox_of)).query.sql_with_params()
    in_scope, scope_params = "", ()
    inboxes = scope.inbox_subquery()
    if inboxes is not None:
        inboxes_sql, scope_params = inboxes.order_by().query.sql_with_params()
        in_scope = f"WHERE hits.inbox IN ({inboxes_sql})"
    sql = (f"WITH walk AS MATERIALIZED ({walk_sql}) SELECT pk FROM walk UNION ALL "
           f"SELECT * FROM (SELECT hits.pk FROM ({hits_sql} OFFSET 0) AS hits {in_scope} "
           f"ORDER BY hits.pk DESC LIMIT %s) AS gathered WHERE (SELECT count(*) FROM walk) < %s")
    return RawSQL(sql, (*walk_params, *hits_params, *scope_params, limit, limit))


# --- Message hits -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageSearchPage:
    rows: list[dict[str, Any]]
    next_before: int | None  # pass as ``before`` for the next (older) page


def _snippet_html(marked: str) -> str:
    """HTML-escaped text in which only ``<mark>``/``</mark>`` are markup."""
    return html.escape(marked).replace(SNIPPET_START, "<mark>").replace(SNIPPET_STOP, "</mark>")


def _marked_substrings(content: str, q: str) -> str:
    """The embedded mode's headline: a window around the first hit, every hit marked."""
    content = content.replace(SNIPPET_START, "").replace(SNIPPET_STOP, "")
    terms = sorted(set(_terms(q)), key=len, reverse=True)
    if not terms:
        return content[:SNIPPET_CHARS]
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    first = pattern.search(content)
    start = max(0, (first.start() if first else 0) - SNIPPET_CHARS // 3)
    window = content[start:start + SNIPPET_CHARS]
    marked = pattern.sub(lambda m: f"{SNIPPET_START}{m.group(0)}{SNIPPET_STOP}", window)
    return ("… " if start else "") + marked + (" …" if start + SNIPPET_CHARS < len(content) else "")


def _hit(message: Message, q: str) -> dict[str, Any]:
    conversation = message.conversation
    contact = conversation.contact
    if message.sender_user_id is not None:
        sender: dict[str, Any] | None = {"type": "user", **(user_summary(message.sender_user) or {})}
    elif message.sender_contact_id is not None:
        sender = {"type": "contact", "id": message.sender_contact_id, "name": contact.name
                  if message.sender_contact_id == contact.pk else ""}
    else:
        sender = None
    marked = getattr(message, "headline", None)
    if marked is None:
        marked = _marked_substrings(message.content, q)
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "private": message.private,
        "sender": sender,
        "created_at": iso(message.created_at),
        "snippet": _snippet_html(marked),
        "conversation": {
            "id": conversation.pk,
            "display_id": conversation.display_id,
            "inbox": conversation.inbox_id,
            "status": conversation.status,
            "contact": {"id": contact.pk, "name": contact.name, "display_name": contact.display_name, "email": contact.email, "phone": contact.phone},
        },
    }


def message_search_for_operator(*, user: Any, q: str, before: int | None = None,
                                 limit: int = 20) -> MessageSearchPage:
    """Messages matching ``q`` in the inboxes the operator sees (private notes included,
    activity lines never), newest first, paged by id (``before``), each with a highlighted
    snippet (``snippet``: HTML-escaped, hits in ``<mark>``) and its conversation."""
    if not search_has_terms(q):
        return MessageSearchPage([], None)
    if connection.vendor == "postgresql":
        qs = Message.objects.filter(pk__in=_pg_message_ids(user=user, q=q, before=before, limit=limit + 1))
        qs = qs.annotate(headline=_Headline("content", q))
    else:
        qs = Message.objects.filter(caller_scope(user).inbox_q("conversation__inbox_id"), messages_matching_q(q=q))
        if before is not None:
            qs = qs.filter(id__lt=before)
    qs = qs.select_related("conversation__contact", "sender_user__operator_profile")
    messages = list(qs.order_by("-id")[: limit + 1])
    more = len(messages) > limit
    messages = messages[:limit]
    return MessageSearchPage([_hit(m, q) for m in messages], messages[-1].pk if more and messages else None)


__all__ = [
    "MessageSearchPage",
    "conversations_matching_q",
    "message_search_for_operator",
    "messages_matching_q",
    "search_has_terms",
]
