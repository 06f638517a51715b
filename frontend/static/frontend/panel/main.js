// Operator panel controller: loads the REST snapshot, keeps the operator socket, applies events
// to state and re-renders. Reconnects resume from the last applied event id; when the server
// asks for a resync the snapshot is reloaded from REST and the socket resumes from its id.
import { h, uid } from "../shared/dom.js";
import { t as tr } from "../shared/i18n.js"; // tr: the catalogue's t(); `t` is a thread here
import { SocketClient, wsUrl } from "../shared/socket.js";
import { api } from "./api.js";
import { initLanguage } from "./language.js";
import { renderContact } from "./contact.js";
import { initLabels, noticeLabelNames, renderLabelFilter } from "./labels.js";
import { eventApplier } from "./events.js";
import { moveSelection, renderCounts, renderHits, renderList } from "./list.js";
import { createOffers } from "./offers.js";
import { askNotificationPermissionOnClick, notifyAssigned as notify, toast } from "./notify.js";
import { state, thread, rememberUser, upsertConversation, matchesFilters } from "./state.js";
import { focusComposer, markPrepending, renderMessages, renderThread, renderTyping } from "./thread.js";
import { COMMAND, ERROR, EVENT } from "../shared/protocol.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
state.me = boot.user;
rememberUser(state.me);
state.presence.set(state.me.id, boot.user.availability || "online");
// The profile's language (panel/language.js); a change from the top bar re-renders everything.
initLanguage({ locale: boot.user.locale, titleKey: "panel.page.title", toast: (text) => toast(text), onChange: () => {
  renderLabelFilter(labelFilter, state.filters.label);
  schedule("list", "hits", "counts", "thread", "contact", "me", "typing");
} });

// --- rendering (batched per frame) -------------------------------------------------------------
const dirty = new Set();
let frame = 0;
function schedule(...parts) {
  for (const p of parts) dirty.add(p);
  if (!frame) frame = requestAnimationFrame(flush);
}
function flush() {
  frame = 0;
  const parts = new Set(dirty);
  dirty.clear();
  if (parts.has("list")) renderList(ctl);
  if (parts.has("hits")) renderHits(ctl);
  if (parts.has("counts")) renderCounts();
  if (parts.has("thread")) renderThread(ctl);
  else if (parts.has("messages")) renderMessages(ctl);
  if (parts.has("typing")) { renderTyping(); }
  if (parts.has("contact")) renderContact(ctl);
  if (parts.has("me")) renderMe();
}

// --- snapshot -----------------------------------------------------------------------------------
function listParams() {
  const f = state.filters;
  return { status: f.status, assignee: f.tab === "mine" ? "me" : f.tab, inbox: f.inbox, q: f.q, label: f.label };
}

let listRequest = 0;
async function loadList() {
  const mine = ++listRequest;
  const data = await api.conversations(listParams());
  if (mine !== listRequest) return;
  applySnapshot(data);
  state.listNext = data.next || null;
  state.searchIds = listParams().q ? new Set((data.results || []).map((c) => c.id)) : null;
  // Drop rows the server no longer lists under these filters (e.g. resolved elsewhere while
  // the socket was down); the open conversation stays.
  const ids = new Set((data.results || []).map((c) => c.id));
  for (const [id, conv] of state.convs) {
    if (!ids.has(id) && matchesFilters(conv) && id !== state.selectedId && !state.listNext) state.convs.delete(id);
  }
  schedule("list", "thread");
  refreshCounts();
}

function applySnapshot(data) {
  const rows = data.results || [];
  const stale = data.last_event_id != null && data.last_event_id < state.lastEventId;
  for (const row of rows) {
    // A snapshot older than what the socket already applied only adds conversations.
    if (stale && state.convs.has(row.id)) continue;
    upsertConversation(row);
  }
  if (data.last_event_id != null && state.lastEventId === 0) state.lastEventId = data.last_event_id;
}

async function loadMoreConversations() {
  if (!state.listNext) return;
  const data = await api.conversations({ cursor: state.listNext });
  for (const row of data.results || []) {
    if (!state.convs.has(row.id)) upsertConversation(row);
    if (state.searchIds) state.searchIds.add(row.id);
  }
  state.listNext = data.next || null;
  schedule("list");
}

let hitsRequest = 0;
async function loadHits() {
  const mine = ++hitsRequest;
  const q = state.filters.q;
  state.hits = { q, results: [], next: null, loading: !!q };
  schedule("hits");
  if (!q) return;
  try {
    const data = await api.searchMessages({ q });
    if (mine !== hitsRequest) return;
    state.hits = { q, results: data.results || [], next: data.next || null, loading: false };
  } catch (err) {
    if (mine === hitsRequest) state.hits = { q, results: [], next: null, loading: false };
  }
  schedule("hits");
}

async function loadMoreHits() {
  const hits = state.hits;
  if (!hits.next) return;
  const data = await api.searchMessages({ cursor: hits.next });
  if (state.hits !== hits) return;
  state.hits = { ...hits, results: [...hits.results, ...(data.results || [])], next: data.next || null };
  schedule("hits");
}

// Events move the counts at once (state.adjustCounts); this refetch confirms them. Debounced,
// but at most COUNTS_MAX_WAIT_MS after the first request, so a busy desk's stream of events
// cannot postpone it forever; an older answer never overwrites a newer one.
const COUNTS_MAX_WAIT_MS = 1000;
let countsTimer = 0;
let countsFirstAsk = 0;
let countsSeq = 0;
function refreshCounts() {
  clearTimeout(countsTimer);
  const now = Date.now();
  if (!countsFirstAsk) countsFirstAsk = now;
  const wait = Math.max(0, Math.min(250, countsFirstAsk + COUNTS_MAX_WAIT_MS - now));
  countsTimer = setTimeout(async () => {
    countsFirstAsk = 0;
    const mine = ++countsSeq;
    try {
      const f = state.filters;
      const counts = await api.meta({ status: f.status, inbox: f.inbox, q: f.q, label: f.label });
      if (mine !== countsSeq) return;
      state.counts = counts;
      schedule("counts");
    } catch (_) { /* keeps the last counts */ }
  }, wait);
}

async function loadThread(id, { reset = false } = {}) {
  const t = thread(id);
  if (reset) { t.msgs.clear(); t.loaded = false; t.hasMore = true; }
  if (t.loading) return;
  t.loading = true;
  schedule("messages");
  try {
    const data = await api.messages(id);
    for (const m of data.results || []) t.add(m);
    t.hasMore = !!data.next;
    t.loaded = true;
  } catch (err) {
    toast(tr("panel.error.load_messages", { code: err.code }));
  } finally {
    t.loading = false;
    schedule("messages");
  }
}

async function loadOlder(id) {
  const t = thread(id);
  if (!t.loaded || !t.hasMore || t.loading) return;
  const before = t.oldestId();
  if (before == null) return;
  t.loading = true;
  try {
    const data = await api.messages(id, before);
    markPrepending();
    for (const m of data.results || []) t.add(m);
    t.hasMore = !!data.next && (data.results || []).length > 0;
  } catch (err) {
    toast(tr("panel.error.load_older", { code: err.code }));
  } finally {
    t.loading = false;
    schedule("messages");
  }
}

async function ensureConversation(id) {
  if (state.convs.has(id)) return state.convs.get(id);
  try {
    const conv = upsertConversation(await api.conversation(id));
    schedule("list", "thread", "contact"); // opened by its link before any list held it
    return conv;
  } catch (_) {
    return null;
  }
}

// --- events -------------------------------------------------------------------------------------
const notifyAssigned = (conv) => notify(conv, select);
const { applyEvent, onMessage } = eventApplier({ schedule, refreshCounts, ensureConversation, markRead, notifyAssigned });
// Ring mode's offers (panel/offers.js); `command` and `select` are hoisted function declarations.
const offers = createOffers({ command, api, toast, opened: (conv) => { upsertConversation(conv); select(conv.id); } });

// --- socket -------------------------------------------------------------------------------------
const banner = document.getElementById("conn-banner");
const socket = new SocketClient({
  url: wsUrl("/ws/operator/"),
  lastEventId: () => state.lastEventId,
  // `meta.replayed` (history sent by a resume) must reach applyEvent: it decides the notices.
  onEvent: (ev, meta) => {
    offers.apply(ev);
    applyEvent(ev, meta);
    if (ev.data && Array.isArray(ev.data.labels)) noticeLabelNames(ev.data.labels);
  },
  onState: (s, info) => {
    const was = state.conn;
    state.conn = s;
    document.body.dataset.conn = s;
    if (s === "open") {
      banner.hidden = true;
      if (was === "reconnecting") {
        refreshCounts();
        flushPending();
      }
    } else if (s === "reconnecting") {
      banner.hidden = false;
      banner.textContent = tr("common.reconnecting");
      banner.className = "conn-banner warn";
    } else if (s === "closed") {
      banner.hidden = false;
      banner.className = "conn-banner error";
      banner.replaceChildren(tr("panel.conn.disconnected"),
        h("a", { href: `/login/?next=${encodeURIComponent("/app/")}` }, tr("panel.conn.sign_in_again")));
    }
  },
  onResume: async (result) => {
    if (result.ok) return;
    if (result.error && result.error.code === ERROR.RESYNC_REQUIRED) {
      // Too much was missed: a fresh snapshot, then events after its watermark.
      state.lastEventId = 0;
      await loadList();
      offers.load().catch(() => {});
      if (state.selectedId != null) await loadThread(state.selectedId, { reset: true });
      socket.command(COMMAND.RESUME, { last_event_id: state.lastEventId }).catch(() => socket.drop());
    }
  },
});
window.__panel = { state, socket, offers }; // for tests and debugging

// --- commands -----------------------------------------------------------------------------------
// Socket first; REST when the socket is down (same services, same idempotency by echo_id).
async function command(type, data, restFallback) {
  if (socket.isOpen) {
    try {
      return await socket.command(type, data);
    } catch (err) {
      if (!(err && (err.code === "offline" || err.code === ERROR.UNKNOWN_COMMAND) && restFallback)) throw err;
    }
  }
  if (!restFallback) throw { code: "offline", message: tr("common.not_connected") };
  return restFallback();
}

async function send(cid, content, isPrivate, echoId, files = []) {
  const t = thread(cid);
  const echo_id = echoId || uid("op");
  const existing = t.pending.get(echo_id);
  t.pending.set(echo_id, { echo_id, content, private: isPrivate, files, state: "sending", created_at: existing ? existing.created_at : new Date().toISOString() });
  schedule("messages");
  const body = { conversation_id: cid, content, private: isPrivate, echo_id };
  try {
    // Files go as multipart over REST (the same service and policy as the socket's base64
    // shape, without a frame-size bound); the echo_id makes a retry idempotent either way.
    const message = files.length
      ? await api.sendMessageWithFiles(cid, { content, private: isPrivate, echo_id }, files)
      : await command(COMMAND.MESSAGE_CREATE, body, () => api.sendMessage(cid, { content, private: isPrivate, echo_id }));
    if (message && message.id != null) onMessage(EVENT.MESSAGE_CREATED, cid, message);
    t.pending.delete(echo_id);
  } catch (err) {
    const p = t.pending.get(echo_id);
    if (p) { p.state = "error"; p.error = (err && err.code) || "error"; }
  }
  schedule("messages");
}

function flushPending() {
  for (const [cid, t] of state.threads) {
    for (const p of t.pending.values()) if (p.state === "error" && (p.error === "offline" || p.error === "timeout")) send(cid, p.content, p.private, p.echo_id, p.files);
  }
}

const typingState = new Map(); // cid -> {sentAt, timer, private}
function typingActivity(cid, isPrivate = false) {
  const entry = typingState.get(cid) || { sentAt: 0, timer: 0, private: isPrivate };
  if (Date.now() - entry.sentAt > 3000 || entry.private !== isPrivate) {
    entry.sentAt = Date.now();
    entry.private = isPrivate;
    // private: colleagues see "writing a note", the visitor sees nothing.
    socket.command(COMMAND.TYPING_START, { conversation_id: cid, private: isPrivate }).catch(() => {});
  }
  clearTimeout(entry.timer);
  entry.timer = setTimeout(() => typingStop(cid), 4000);
  typingState.set(cid, entry);
}
function typingStop(cid) {
  const entry = typingState.get(cid);
  if (!entry) return;
  clearTimeout(entry.timer);
  typingState.delete(cid);
  socket.command(COMMAND.TYPING_STOP, { conversation_id: cid }).catch(() => {});
}

async function deleteMessage(cid, messageId) {
  try {
    const message = await command(COMMAND.MESSAGE_DELETE, { message_id: messageId }, () => api.deleteMessage(cid, messageId));
    if (message && message.id != null) onMessage(EVENT.MESSAGE_UPDATED, cid, message);
  } catch (err) {
    toast(tr("panel.error.action_failed", { action: tr("panel.action.delete"), reason: (err && (err.message || err.code)) || tr("common.error") }));
  }
  schedule("messages");
}

let readTimer = 0;
function markRead(cid) {
  const conv = state.convs.get(cid);
  if (conv) conv.unread_count = 0;
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    command(COMMAND.CONVERSATION_READ, { conversation_id: cid }, () => api.read(cid)).catch(() => {});
  }, 200);
}

async function act(label, type, data, rest) {
  try {
    const result = await command(type, data, rest);
    if (result && result.id != null && result.display_id != null) { upsertConversation(result); schedule("list", "thread"); }
    refreshCounts();
  } catch (err) {
    toast(tr("panel.error.action_failed", { action: label, reason: (err && (err.message || err.code)) || tr("common.error") }));
    schedule("thread");
  }
}

function select(id) {
  state.selectedId = id;
  document.body.classList.toggle("has-selection", id != null);
  if (id == null) {
    history.replaceState(null, "", "/app/");
    schedule("list", "thread", "contact");
    return;
  }
  history.replaceState(null, "", `/app/#/conversations/${id}`);
  const t = thread(id);
  if (!t.loaded) loadThread(id);
  ensureConversation(id);
  markRead(id);
  schedule("list", "thread", "contact");
  requestAnimationFrame(() => focusComposer());
}

const ctl = {
  select,
  loadOlder,
  loadMoreConversations,
  loadMoreHits,
  send: (cid, content, isPrivate, files) => send(cid, content, isPrivate, undefined, files || []),
  retry: (cid, echoId) => { const p = thread(cid).pending.get(echoId); if (p) send(cid, p.content, p.private, echoId, p.files); },
  deleteMessage,
  discard: (cid, echoId) => { thread(cid).pending.delete(echoId); schedule("messages"); },
  typingActivity,
  typingStop,
  assign: (cid, assigneeId) => act(tr("panel.action.assign"), COMMAND.CONVERSATION_ASSIGN, { conversation_id: cid, assignee_id: assigneeId }, () => api.assign(cid, assigneeId)),
  status: (cid, status, snoozedUntil) => act(tr("panel.action.status"), COMMAND.CONVERSATION_STATUS,
    { conversation_id: cid, status, snoozed_until: snoozedUntil }, () => api.setStatus(cid, status, snoozedUntil)),
  priority: (cid, priority) => act(tr("panel.action.priority"), COMMAND.CONVERSATION_PRIORITY, { conversation_id: cid, priority }, () => api.setPriority(cid, priority)),
  escalate: (cid) => act(tr("panel.action.escalate"), COMMAND.CONVERSATION_ESCALATE, { conversation_id: cid }, () => api.escalate(cid)),
  // Rejects with the server's error (the label editor shows it and stays open).
  setLabels: async (cid, labels) => {
    const conv = await command(COMMAND.CONVERSATION_LABELS, { conversation_id: cid, labels }, () => api.setLabels(cid, labels));
    if (conv && conv.id != null) { upsertConversation(conv); schedule("list", "thread"); refreshCounts(); }
    return conv;
  },
  openConversation: (conv) => { upsertConversation(conv); select(conv.id); },
  toast,
};

// --- own availability, notifications, toasts -----------------------------------------------------
const availability = document.getElementById("availability");
function renderMe() {
  document.getElementById("me-name").textContent = state.me.name || state.me.username;
  const status = state.presence.get(state.me.id) || state.me.availability || "online";
  availability.value = status;
  document.getElementById("my-dot").className = `dot ${status}`;
}
availability.addEventListener("change", async () => {
  const status = availability.value;
  try {
    await socket.command(COMMAND.PRESENCE_SET, { status });
    state.presence.set(state.me.id, status);
    state.me.availability = status;
  } catch (err) {
    toast(tr("panel.error.change_availability", { code: err.code }));
  }
  schedule("me", "list");
});

askNotificationPermissionOnClick();

// --- filters and keyboard -----------------------------------------------------------------------
for (const tab of document.querySelectorAll("#tabs [data-tab]")) {
  tab.addEventListener("click", () => { state.filters.tab = tab.dataset.tab; schedule("counts", "list"); loadList().catch(() => {}); });
}
const statusFilter = document.getElementById("status-filter");
statusFilter.addEventListener("change", () => { state.filters.status = statusFilter.value; loadList().catch(() => {}); schedule("list"); });
const inboxFilter = document.getElementById("inbox-filter");
inboxFilter.addEventListener("change", () => { state.filters.inbox = inboxFilter.value; loadList().catch(() => {}); schedule("list"); });
const labelFilter = document.getElementById("label-filter");
labelFilter.addEventListener("change", () => { state.filters.label = labelFilter.value; loadList().catch(() => {}); schedule("list"); });
const search = document.getElementById("search");
let searchTimer = 0;
search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { state.filters.q = search.value.trim(); schedule("list"); loadList().catch(() => {}); loadHits(); }, 250);
});

document.addEventListener("keydown", (e) => {
  const typingInField = e.target.closest && e.target.closest("input, textarea, select");
  if (e.key === "/" && !typingInField) { e.preventDefault(); search.focus(); return; }
  if (typingInField) return;
  if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); moveSelection(ctl, 1); }
  if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); moveSelection(ctl, -1); }
  if (e.key === "r" && state.selectedId != null) { e.preventDefault(); focusComposer(); }
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.selectedId != null) markRead(state.selectedId);
});
setInterval(() => schedule("list"), 30_000); // relative times and waiting clocks

// --- boot -----------------------------------------------------------------------------------------
function loadDirectory() {
  // Inbox names and their members come with the page (frontend/views.py: panel_directory).
  for (const inbox of boot.inboxes || []) {
    state.inboxes.set(inbox.id, inbox);
    for (const user of inbox.members || []) {
      rememberUser(user);
      if (user.status && user.id !== state.me.id) state.presence.set(user.id, user.status);
    }
    inboxFilter.append(new Option(inbox.name, String(inbox.id)));
  }
}

// Where the panel opens (docs/desk.md): agents on Mine (auto-assignment fills it);
// supervisors and administrators, who mostly dispatch, on Mine only when it has something,
// else on Unassigned when something waits, else on All.
async function landingTab() {
  if (!state.me.role || state.me.role === "agent") return;
  try {
    const counts = await api.meta({ status: state.filters.status, inbox: "", q: "" });
    state.counts = counts;
    if (!counts.mine) state.filters.tab = counts.unassigned ? "unassigned" : "all";
  } catch (_) { /* stays on Mine */ }
}

async function start() {
  loadDirectory();
  // Colours for the chips and the label filter; the chips re-render when it arrives.
  initLabels(() => { renderLabelFilter(labelFilter, state.filters.label); schedule("list", "thread"); });
  renderMe();
  await landingTab();
  renderCounts();
  try {
    await loadList();
  } catch (err) {
    toast(tr("panel.error.load_conversations", { code: err.code }));
  }
  await offers.load().catch(() => {}); // after the snapshot: the socket resumes from its id
  socket.start();
  const match = location.hash.match(/^#\/conversations\/(\d+)/);
  if (match) select(Number(match[1]));
}
start();
