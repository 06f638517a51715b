// Panel state and how events change it. Applying an event twice, or an event whose effect is
// already in a REST snapshot, changes nothing: events are deduplicated by id, messages by id,
// and optimistic bubbles are matched to their stored message by echo_id.
import { t } from "../shared/i18n.js";

const SEEN_LIMIT = 5000;

export const state = {
  me: null,
  filters: { tab: "mine", status: "open", inbox: "", q: "", label: "" },
  convs: new Map(),        // id -> conversation payload (+ unread_count, last_message)
  listNext: null,
  counts: { mine: 0, unassigned: 0, all: 0 },
  selectedId: null,
  threads: new Map(),      // conversation id -> Thread
  lastEventId: 0,
  seenEvents: new Set(),
  presence: new Map(),     // user id -> online | busy | offline
  users: new Map(),        // user id -> {id, name, username}
  inboxes: new Map(),      // inbox id -> {id, name}
  typing: new Map(),       // conversation id -> expiry (ms epoch)
  conn: "connecting",
  // Search (filters.q): the server decides what matches (full text over every message and the
  // contact's name/email/phone); the list shows its result set, never a client-side re-filter.
  searchIds: null,         // Set of conversation ids the server returned for filters.q, or null
  hits: { q: "", results: [], next: null, loading: false },  // /api/v1/search/messages
};

export class Thread {
  constructor() {
    this.msgs = new Map();      // message id -> message
    this.pending = new Map();   // echo_id -> {echo_id, content, private, state, error, created_at}
    this.hasMore = true;
    this.loaded = false;
    this.loading = false;
  }

  add(message) {
    if (!message || message.id == null) return false;
    const known = this.msgs.has(message.id);
    this.msgs.set(message.id, message);
    if (message.echo_id) this.pending.delete(message.echo_id);
    return !known;
  }

  sorted() {
    return [...this.msgs.values()].sort((a, b) => a.id - b.id);
  }

  oldestId() {
    let min = null;
    for (const id of this.msgs.keys()) if (min === null || id < min) min = id;
    return min;
  }
}

export function thread(conversationId) {
  let t = state.threads.get(conversationId);
  if (!t) {
    t = new Thread();
    state.threads.set(conversationId, t);
  }
  return t;
}

/** Merge a conversation payload from REST or an event, keeping client-side fields. */
export function upsertConversation(payload) {
  if (!payload || payload.id == null) return null;
  const old = state.convs.get(payload.id) || {};
  const merged = { ...old, ...payload };
  if (payload.unread_count === undefined) merged.unread_count = old.unread_count || 0;
  if (payload.last_message === undefined) merged.last_message = old.last_message || null;
  state.convs.set(payload.id, merged);
  if (merged.assignee) rememberUser(merged.assignee);
  return merged;
}

export function rememberUser(user) {
  if (user && user.id != null) state.users.set(user.id, { ...(state.users.get(user.id) || {}), ...user });
}

/** Whether an event id is new; records it. */
export function firstSight(eventId) {
  if (eventId == null) return true;
  if (state.seenEvents.has(eventId)) return false;
  state.seenEvents.add(eventId);
  if (state.seenEvents.size > SEEN_LIMIT) {
    const drop = [...state.seenEvents].sort((a, b) => a - b).slice(0, SEEN_LIMIT / 2);
    for (const id of drop) state.seenEvents.delete(id);
  }
  if (eventId > state.lastEventId) state.lastEventId = eventId;
  return true;
}

export function matchesFilters(conv) {
  const f = state.filters;
  if (f.status !== "all" && conv.status !== f.status) return false;
  if (f.inbox && String(conv.inbox) !== String(f.inbox)) return false;
  if (f.tab === "mine" && !(conv.assignee && conv.assignee.id === state.me.id)) return false;
  if (f.tab === "unassigned" && conv.assignee) return false;
  if (f.label && !(conv.labels || []).includes(f.label)) return false;
  if (f.q) return !!state.searchIds && state.searchIds.has(conv.id);
  return true;
}

/** Move the tab counts (Mine / Unassigned / All under the current status, inbox and search)
 *  by what one event did to one conversation (`before`/`after`: its payload, or null when it
 *  was unknown / is gone), so that they change with the list; the debounced refetch of
 *  /conversations/meta/ then confirms them (it also knows the rows the list never loaded). */
export function adjustCounts(before, after) {
  const f = state.filters;
  const buckets = (conv) => {
    if (!conv) return [];
    if (f.status !== "all" && conv.status !== f.status) return [];
    if (f.inbox && String(conv.inbox) !== String(f.inbox)) return [];
    if (f.q && !(state.searchIds && state.searchIds.has(conv.id))) return [];
    const mine = conv.assignee && conv.assignee.id === state.me.id;
    return ["all", ...(mine ? ["mine"] : []), ...(conv.assignee ? [] : ["unassigned"])];
  };
  const counts = { ...state.counts };
  for (const b of buckets(before)) counts[b] = Math.max(0, (counts[b] || 0) - 1);
  for (const b of buckets(after)) counts[b] = (counts[b] || 0) + 1;
  state.counts = counts;
}

/** Split a search snippet (HTML-escaped text whose only markup is <mark>…</mark>) into
 *  [{text, mark}] parts, unescaped: the caller makes text nodes of them, never HTML. */
export function snippetParts(snippet) {
  const unescape = (text) => text.replace(/&(lt|gt|quot|#x27|#39|amp);/g, (_, name) =>
    ({ lt: "<", gt: ">", quot: '"', "#x27": "'", "#39": "'", amp: "&" })[name]);
  const parts = [];
  let mark = false;
  for (const piece of String(snippet || "").split(/(<\/?mark>)/)) {
    if (piece === "<mark>") mark = true;
    else if (piece === "</mark>") mark = false;
    else if (piece) parts.push({ text: unescape(piece), mark });
  }
  return parts;
}

export function visibleConversations() {
  return [...state.convs.values()].filter(matchesFilters).sort(byActivity);
}

export function byActivity(a, b) {
  const ta = a.last_activity_at ? Date.parse(a.last_activity_at) : 0;
  const tb = b.last_activity_at ? Date.parse(b.last_activity_at) : 0;
  return tb - ta || b.id - a.id;
}

/** A contact's name as the server names it (Contact.display_name: name, else email), else
 *  "Visitor N" in the reader's language (the server's display_name says it in English). */
export function contactName(contact) {
  if (!contact) return t("common.visitor");
  return contact.name || contact.email || (contact.id != null ? t("common.visitor_numbered", { id: contact.id })
    : contact.display_name || t("common.visitor"));
}

export function userName(user) {
  if (!user) return "";
  const known = state.users.get(user.id);
  return user.name || (known && known.name) || user.username || `#${user.id}`;
}
