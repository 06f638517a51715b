// The widget inside its iframe: visitor session, history, live events, offline outbox, UI.
// Talks to the host page only through postMessage with the loader (origin checked).
//
// Its language (docs/i18n.md): the SDK's $messenger.setLocale (a "setLocale" command, the latest
// word), else the embed's data-locale (boot.locale), else navigator.languages, else the inbox's
// default (boot.inbox_locale), else English. It goes with the session request (``locale``), the
// socket's auth frame and every REST call (Accept-Language); a change renders everything again.
import { uid } from "../shared/dom.js";
import { CHANGE_EVENT, chooseLocale, getLocale, setLocale, t, translateDom } from "../shared/i18n.js";
import { backoffDelay } from "../shared/socket.js";
import { FALLBACK, TRANSPORTS, rest } from "./transport.js";
import * as view from "./view.js";
import * as desk from "./desk.js";
import { hideError, relabelError, scrollToBottom, showError } from "./view.js";
import { CLOSE, COMMAND, EPHEMERAL, EVENT } from "../shared/protocol.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
const KEY = `messenger:${boot.website_token}`;
const OUTBOX_KEY = `${KEY}:outbox`;
const $ = (id) => document.getElementById(id);

const st = {
  session: load(KEY) || null,   // {source_id, pubsub_token, contact}
  user: null,                   // setUser() data, sent with the session request
  attributes: null,
  messages: new Map(),          // id -> message
  outbox: (load(OUTBOX_KEY) || []).map((m) => ({ ...m, state: "queued" })), // [{echo_id, content, created_at, state, error, file?}]
  lastEventId: 0,
  seen: new Set(),
  open: false,
  unread: 0,
  agentTyping: 0,
  config: { name: boot.inbox_name, greeting: "", operators_available: false, online: false, next_open_at: null,
    out_of_office_message: "" },
  queue: null,                  // {conversation_id, position, expected_wait_seconds} while waiting in line
  contactEmail: load(`${KEY}:email`),
  actions: {},                  // desk.js callbacks (survey, email), set below
  transport: null,
  mode: boot.transport === "auto" ? "ws" : boot.transport,
  parentOrigin: null,
  conversation: null,
  sdkLocale: null,              // $messenger.setLocale(...)
};
window.__widget = st; // for tests and debugging

function load(key) {
  try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (_) { return null; }
}
function save(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch (_) { /* storage blocked: the session lasts for this page view */ }
}
function saveOutbox() {
  save(OUTBOX_KEY, st.outbox.filter((m) => !m.file && m.state !== "failed").map(({ echo_id, content, created_at }) => ({ echo_id, content, created_at })));
}

// --- host page bridge --------------------------------------------------------------------------
function toHost(type, detail) {
  if (st.parentOrigin && window.parent !== window) window.parent.postMessage({ messenger: true, type, detail }, st.parentOrigin);
}
window.addEventListener("message", (e) => {
  if (e.source !== window.parent || !e.data || !e.data.messenger) return;
  const d = e.data;
  if (d.cmd === "init") {
    st.parentOrigin = e.origin;
    return;
  }
  if (st.parentOrigin && e.origin !== st.parentOrigin) return;
  if (d.cmd === "layout") document.body.classList.toggle("mobile", !!d.mobile);
  else if (d.cmd === "open") setOpen(true, false);
  else if (d.cmd === "close") setOpen(false, false);
  else if (d.cmd === "setUser") { st.user = d.user; startSession().catch(sessionFailed); }
  else if (d.cmd === "setCustomAttributes") { st.attributes = { ...(st.attributes || {}), ...d.attributes }; startSession().catch(sessionFailed); }
  else if (d.cmd === "reset") reset();
  else if (d.cmd === "setLocale") { st.sdkLocale = d.locale || null; setLocale(chosenLocale()); }
});

// --- language -----------------------------------------------------------------------------------
function chosenLocale() {
  return chooseLocale({ explicit: st.sdkLocale, embed: boot.locale, fallback: boot.inbox_locale });
}
/** The loader names the iframe (its title) in the widget's language. */
function tellHostLocale() {
  toHost("locale", { locale: getLocale(), title: t("widget.loader.title") });
}
/** A new language: every text again, the inbox's texts in it, and the server told (session,
 * then a new socket whose auth frame carries it). */
function relocalize() {
  translateDom(document);
  renderHeader();
  renderUnread();
  renderTyping();
  render();
  desk.renderQueue(st);
  relabelError();
  tellHostLocale();
  loadConfig();
  // A socket authenticated in another language is replaced (resuming after the last event).
  if (st.session) startSession().then(() => { if (st.transport && st.transport.locale !== getLocale()) connect(); }).catch(sessionFailed);
}

function setOpen(open, tellHost = true) {
  st.open = open;
  $("window").hidden = !open;
  $("launcher").setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("is-open", open);
  if (open) {
    st.unread = 0;
    renderUnread();
    markRead();
    requestAnimationFrame(() => { scrollToBottom(); $("w-input").focus(); });
  }
  if (tellHost) toHost(open ? "open" : "close");
}

// --- session and history -------------------------------------------------------------------------
let sessionRun = 0;
async function startSession() {
  const run = ++sessionRun;
  const body = { website_token: boot.website_token, locale: getLocale() };
  if (st.session && st.session.source_id) body.source_id = st.session.source_id;
  if (st.user) {
    for (const k of ["identifier", "identifier_hash", "name", "email", "phone"]) if (st.user[k]) body[k] = st.user[k];
  }
  if (st.attributes) body.custom_attributes = st.attributes;
  const data = await rest("POST", "/api/widget/v1/sessions", { body });
  if (run !== sessionRun) return;
  const changed = !st.session || st.session.pubsub_token !== data.contact_inbox.pubsub_token;
  st.session = { source_id: data.contact_inbox.source_id, pubsub_token: data.contact_inbox.pubsub_token, contact: data.contact };
  if (st.user && st.user.email && !st.contactEmail) st.contactEmail = st.user.email; // the site gave it
  save(KEY, st.session);
  if (data.conversation) st.conversation = data.conversation;
  applyAvailability(data);
  st.queue = data.queue && data.queue.position ? data.queue : null;
  desk.renderQueue(st);
  if (changed || !st.transport) {
    st.messages.clear();
    st.seen.clear();
    await loadHistory();
    connect();
  }
}

async function loadHistory() {
  const data = await rest("GET", "/api/widget/v1/messages", { token: st.session.pubsub_token });
  for (const m of (data && data.results) || []) addMessage(m, { live: false });
  st.olderCursor = (data && data.next) || null;
  if (data && data.last_event_id != null) st.lastEventId = Math.max(st.lastEventId, data.last_event_id);
  render();
}

/** Older pages when the visitor scrolls to the top (cursor: the page's ``next``). */
let loadingOlder = false;
async function loadOlder() {
  if (loadingOlder || !st.olderCursor || !st.session) return;
  loadingOlder = true;
  const list = $("w-messages");
  const fromBottom = list.scrollHeight - list.scrollTop;
  try {
    const data = await rest("GET", `/api/widget/v1/messages?before=${encodeURIComponent(st.olderCursor)}`,
      { token: st.session.pubsub_token });
    for (const m of (data && data.results) || []) addMessage(m, { live: false });
    st.olderCursor = (data && data.next) || null;
    render();
    list.scrollTop = list.scrollHeight - fromBottom;
  } catch (_) { /* try again on the next scroll */ }
  loadingOlder = false;
}

async function loadConfig() {
  try {
    const cfg = await rest("GET", `/widget/config/?website_token=${encodeURIComponent(boot.website_token)}&locale=${getLocale()}`);
    st.config = { ...st.config, ...cfg };
  } catch (_) { /* keeps defaults */ }
  desk.scheduleOpening(st, loadConfig);
  renderHeader();
  render();
}

/** online / next_open_at from a session answer (the config's own fields come with it). */
function applyAvailability(data) {
  if (!data || !("online" in data)) return;
  const reopened = st.config.next_open_at !== data.next_open_at;
  st.config.online = data.online;
  st.config.next_open_at = data.next_open_at;
  if (reopened) loadConfig(); // the greeting / out-of-office text changes with it
  else renderHeader();
}

async function reset() {
  if (st.transport) st.transport.stop();
  st.transport = null;
  st.session = null;
  st.user = null;
  st.attributes = null;
  st.outbox = [];
  st.messages.clear();
  st.seen.clear();
  st.lastEventId = 0;
  st.conversation = null;
  st.queue = null;
  st.contactEmail = null;
  save(`${KEY}:email`, null);
  save(KEY, null);
  save(OUTBOX_KEY, null);
  render();
  await startSession().catch(showFatal);
}

// --- transport ----------------------------------------------------------------------------------
function connect() {
  if (st.transport) st.transport.stop();
  const Transport = TRANSPORTS[st.mode];
  const transport = new Transport({
    token: st.session.pubsub_token,
    lastEventId: () => st.lastEventId,
    onEvent: (frame) => { if (st.transport === transport) applyEvent(frame); },
    onState: (s, info) => { if (st.transport === transport) onTransportState(transport, s, info); },
  });
  transport.locale = getLocale(); // the language its auth frame and requests carry
  st.transport = transport;
  document.body.dataset.transport = transport.name;
  transport.start();
}

function onTransportState(transport, s, info) {
  document.body.dataset.conn = s;
  if (s === "failed") {
    // Automatic mode steps down (WebSocket → SSE → long-poll); a forced or last transport
    // keeps trying on its own.
    if (boot.transport === "auto" && FALLBACK[st.mode]) st.mode = FALLBACK[st.mode];
    setTimeout(() => { if (st.transport === transport) connect(); }, boot.transport === "auto" ? 0 : 3000);
    $("w-conn").hidden = false;
    $("w-conn").textContent = t("common.reconnecting");
    return;
  }
  if (s === "resync") {
    st.messages.clear();
    st.seen.clear();
    st.lastEventId = 0;
    loadHistory().then(() => transport.drop && transport.drop()).catch(() => {});
    return;
  }
  if (s === "closed" && info && info.code === CLOSE.UNAUTHORIZED) {
    revalidateVisitor(transport);
    return;
  }
  if (s === "open") unauthorizedInARow = 0;
  const conn = $("w-conn");
  if (s === "open") {
    conn.hidden = true;
    pump();
  } else if (s === "reconnecting" && (info?.attempt || 0) >= 1) {
    conn.hidden = false;
    conn.textContent = t("common.reconnecting");
  } else if (s === "closed" && info && info.code === CLOSE.FORBIDDEN) {
    conn.hidden = false;
    conn.textContent = t("widget.unavailable");
  }
}

// The stored visitor (localStorage) is the visitor's conversation: it is forgotten only when the
// server says it is no longer valid, never because the server or the network failed.
// 4401 (a token the server refuses) asks the sessions endpoint again for the same visitor
// (source_id): the same or a new token continues the same conversation. Only when the server
// refuses that visitor (4xx) is the stored visitor dropped and a new one started. An outage
// (503, 5xx, network) keeps it and retries. Repeated 4401s back off, so a server that keeps
// refusing the socket is not hammered.
let unauthorizedInARow = 0;
async function revalidateVisitor(transport) {
  if (st.transport === transport) { transport.stop(); st.transport = null; }
  unauthorizedInARow += 1;
  if (unauthorizedInARow > 1) await new Promise((r) => setTimeout(r, backoffDelay(unauthorizedInARow)));
  try {
    await startSession();
  } catch (err) {
    if (err && err.status >= 400 && err.status < 500 && err.status !== 429) {
      st.session = null;
      save(KEY, null);
      startSession().catch(showFatal);
      return;
    }
    showFatal(err);
  }
}

function applyEvent(frame) {
  if (frame.id != null) {
    if (st.seen.has(frame.id)) return;
    st.seen.add(frame.id);
    if (frame.id > st.lastEventId) st.lastEventId = frame.id;
  }
  const data = frame.data || {};
  switch (frame.type) {
    case EVENT.MESSAGE_CREATED:
    case EVENT.MESSAGE_UPDATED:
      // A reply ends the operator's typing even if its typing_stopped was missed (long-poll).
      if (frame.type === EVENT.MESSAGE_CREATED && data.direction === "outgoing" && st.agentTyping) {
        st.agentTyping = 0;
        renderTyping();
      }
      if (addMessage(data, { live: frame.type === EVENT.MESSAGE_CREATED })) render();
      break;
    case EVENT.CONVERSATION_CREATED:
    case EVENT.CONVERSATION_UPDATED:
    case EVENT.CONVERSATION_STATUS_CHANGED:
      st.conversation = { ...(st.conversation || {}), ...data };
      render();
      desk.renderQueue(st);
      break;
    case EPHEMERAL.QUEUE_UPDATED:
      st.queue = data.position ? data : null;
      desk.renderQueue(st);
      renderHeader();
      break;
    case EPHEMERAL.TYPING_STARTED:
    case EPHEMERAL.TYPING_STOPPED:
      if (data.side !== "contact") {
        st.agentTyping = frame.type === EPHEMERAL.TYPING_STARTED ? Date.now() + (data.expires_in || 8) * 1000 : 0;
        renderTyping();
        if (st.agentTyping) setTimeout(renderTyping, (data.expires_in || 8) * 1000 + 50);
      }
      break;
    case EVENT.PRESENCE_UPDATED:
      // user_id null: the inbox as a whole ("online" while some operator is available);
      // anything else: ask the config again.
      if (data.user_id === null) {
        st.config.operators_available = data.status === "online";
        st.config.online = st.config.operators_available && !st.config.next_open_at;
        renderHeader();
      }
      else refreshConfigSoon();
      break;
    default:
      break;
  }
}

let configTimer = 0;
function refreshConfigSoon() {
  clearTimeout(configTimer);
  configTimer = setTimeout(loadConfig, 500);
}

/** Store a message; returns whether anything changed. Operator replies raise the unread count. */
function addMessage(m, { live }) {
  if (!m || m.id == null || m.private || m.direction === "activity") return false;
  const known = st.messages.has(m.id);
  st.messages.set(m.id, m);
  if (m.echo_id) {
    const before = st.outbox.length;
    st.outbox = st.outbox.filter((p) => p.echo_id !== m.echo_id);
    if (st.outbox.length !== before) saveOutbox();
  }
  if (!known && live && m.direction === "outgoing") {
    st.agentTyping = 0;
    toHost("message", { id: m.id, content: m.content, created_at: m.created_at, sender: m.sender ? { name: m.sender.name } : null });
    if (!st.open || document.visibilityState !== "visible") { st.unread += 1; renderUnread(); }
    else markRead();
  }
  return true;
}

// --- sending: outbox in order, idempotent by echo_id --------------------------------------------
function enqueue(content, file) {
  const item = { echo_id: uid("w"), content, created_at: new Date().toISOString(), state: "queued", file };
  st.outbox.push(item);
  saveOutbox();
  render();
  pump();
}

let pumping = false;
async function pump() {
  if (pumping || !st.transport || !st.session) return;
  pumping = true;
  try {
    for (;;) {
      const item = st.outbox.find((m) => m.state !== "failed");
      if (!item || !st.transport.isOpen) break;
      item.state = "sending";
      render();
      try {
        const message = item.file
          ? await sendWithFile(item)
          : await st.transport.command(COMMAND.MESSAGE_CREATE, { content: item.content, echo_id: item.echo_id });
        if (message && message.id != null) addMessage(message, { live: false });
        st.outbox = st.outbox.filter((m) => m !== item);
        saveOutbox();
        hideError();
      } catch (err) {
        const code = (err && err.code) || "error";
        if (["offline", "timeout", "server_error"].includes(code)) {
          item.state = "queued"; // sent again, with the same echo_id, when the connection is back
          render();
          break;
        }
        item.state = "failed";
        item.error = code;
        showError(code, err && err.message);
      }
      render();
    }
  } finally {
    pumping = false;
  }
}

function sendWithFile(item) {
  const form = new FormData();
  form.append("content", item.content || "");
  form.append("echo_id", item.echo_id);
  form.append("attachments", item.file);
  return rest("POST", "/api/widget/v1/messages", { token: st.session.pubsub_token, form });
}

/** setUser() data the server refuses (e.g. a wrong identifier_hash) must not break the chat. */
function sessionFailed(err) {
  if (err && err.status >= 400 && err.status < 500 && err.status !== 429 && (st.user || st.attributes)) {
    console.warn(`messenger: identity refused (${err.code}): ${err.message}`);
    st.user = null;
    st.attributes = null;
    return;
  }
  showFatal(err);
}

function showFatal(err) {
  const conn = $("w-conn");
  conn.hidden = false;
  conn.textContent = t("widget.unavailable_retrying", { code: (err && err.code) || "error" });
  setTimeout(() => startSession().then(() => { conn.hidden = true; }).catch(showFatal), 5000);
}

// --- typing and read ----------------------------------------------------------------------------
let typingSentAt = 0, typingTimer = 0;
// Sneak peek (the inbox's sneak_peek): the unsent text goes with typing.start, at most one per
// DRAFT_MS, trailing edge: the send reads the text when it fires, so the last keystrokes arrive.
const DRAFT_MS = 500, DRAFT_MAX = 1000;
let draftTimer = 0, draftSentAt = 0;
function sendDraftSoon() {
  if (draftTimer) return;
  draftTimer = setTimeout(() => {
    draftTimer = 0;
    if (!st.transport || !st.transport.isOpen) return;
    draftSentAt = typingSentAt = Date.now();
    st.transport.command(COMMAND.TYPING_START, { draft: input.value.slice(0, DRAFT_MAX) }).catch(() => {});
  }, Math.max(0, DRAFT_MS - (Date.now() - draftSentAt)));
}
function typingActivity() {
  if (!st.transport || !st.transport.isOpen) return;
  if (st.config.sneak_peek) sendDraftSoon();
  else if (Date.now() - typingSentAt > 3000) {
    typingSentAt = Date.now();
    st.transport.command(COMMAND.TYPING_START, {}).catch(() => {});
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(typingStop, 4000);
}
function typingStop() {
  clearTimeout(typingTimer);
  clearTimeout(draftTimer);
  draftTimer = 0;
  if (!typingSentAt) return;
  typingSentAt = 0;
  if (st.transport && st.transport.isOpen) st.transport.command(COMMAND.TYPING_STOP, {}).catch(() => {});
}
let readTimer = 0;
function markRead() {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (st.transport && st.transport.isOpen && st.messages.size) st.transport.command(COMMAND.CONVERSATION_READ, {}).catch(() => {});
  }, 300);
}

// --- rendering ----------------------------------------------------------------------------------
const renderHeader = () => view.renderHeader(st);
const renderUnread = () => view.renderUnread(st);
const renderTyping = () => view.renderTyping(st);
const render = () => view.render(st, (item) => { item.state = "queued"; hideError(); pump(); render(); });

// --- desk: the survey and the email request (desk.js renders them) ------------------------------
st.actions.csatSubmit = (conversationId, rating, feedback) => {
  const data = { conversation_id: conversationId, rating, feedback };
  if (st.transport && st.transport.isOpen) return st.transport.command(COMMAND.CSAT_SUBMIT, data);
  return rest("POST", "/api/widget/v1/csat", { token: st.session.pubsub_token, body: data });
};
st.actions.saveEmail = async (email) => {
  const contact = await rest("PATCH", "/api/widget/v1/contact", { token: st.session.pubsub_token, body: { email } });
  save(`${KEY}:email`, contact.email);
  return contact;
};

// --- UI wiring ----------------------------------------------------------------------------------
$("launcher").addEventListener("click", () => setOpen(!st.open));
$("w-messages").addEventListener("scroll", (e) => { if (e.target.scrollTop < 40) loadOlder(); });
$("close").addEventListener("click", () => setOpen(false));

// --- menu: download the transcript ---------------------------------------------------------------
function currentConversationId() {
  if (st.conversation && st.conversation.id) return st.conversation.id;
  const newest = [...st.messages.values()].sort((a, b) => b.id - a.id)[0];
  return newest ? newest.conversation_id : null;
}
function setMenu(open) {
  $("w-menu").hidden = !open;
  $("w-menu-button").setAttribute("aria-expanded", String(open));
  $("w-transcript").disabled = !(st.session && currentConversationId());
  if (open) $("w-transcript").focus();
}
$("w-menu-button").addEventListener("click", () => setMenu($("w-menu").hidden));
$("w-menu").addEventListener("keydown", (e) => { if (e.key === "Escape") { setMenu(false); $("w-menu-button").focus(); } });
$("w-transcript").addEventListener("click", () => {
  setMenu(false);
  downloadTranscript().catch(() => showError("transcript_failed", t("widget.transcript_failed")));
});
async function downloadTranscript() {
  const id = currentConversationId();
  if (!st.session || !id) return;
  // The token travels in a header, so a plain link cannot carry it: fetch, then save the blob.
  const response = await fetch(`/api/widget/v1/transcript?conversation_id=${encodeURIComponent(id)}&format=txt`, {
    headers: { "X-Widget-Token": st.session.pubsub_token, "Accept-Language": getLocale() }, credentials: "omit",
  });
  if (!response.ok) throw new Error(String(response.status));
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = match ? match[1] : "transcript.txt";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
const input = $("w-input");
function submit() {
  const text = input.value;
  if (!text.trim()) return;
  input.value = "";
  autosize();
  typingStop();
  enqueue(text);
}
$("w-composer").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  if (e.key === "Escape") setOpen(false);
});
function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(120, input.scrollHeight)}px`;
}
input.addEventListener("input", () => { autosize(); if (input.value) typingActivity(); else typingStop(); });
$("w-file").addEventListener("change", (e) => {
  const file = e.target.files && e.target.files[0];
  e.target.value = "";
  if (file) enqueue(input.value.trim(), file);
  input.value = "";
});
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible" && st.open) markRead(); });
window.addEventListener("online", () => { if (st.transport && st.transport.drop && !st.transport.isOpen) pump(); });

// --- start --------------------------------------------------------------------------------------
setLocale(chosenLocale());
translateDom(document);
document.addEventListener(CHANGE_EVENT, relocalize);
renderHeader();
render();
loadConfig();
startSession()
  .then(() => { toHost("ready", { source_id: st.session && st.session.source_id }); tellHostLocale(); })
  .catch(showFatal);
// The loader's init may arrive after start; "ready" must reach it, so say it again on init.
window.addEventListener("message", (e) => {
  if (e.data && e.data.messenger && e.data.cmd === "init" && st.session) {
    toHost("ready", { source_id: st.session.source_id });
    tellHostLocale();
  }
});
