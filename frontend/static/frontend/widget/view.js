// The widget's DOM: header, bubble counter, typing line, message list, error line. Content is
// only ever set as text (dom.js h()); attachment URLs only when http(s).
import { clear, h } from "../shared/dom.js";
import { clock, dayKey, dayLabel } from "../shared/time.js";
import { csatCard, emailRequest, greetingText, statusLine } from "./desk.js";

const $ = (id) => document.getElementById(id);

const ERRORS = {
  flood_limited: "You are sending messages too fast. Please wait a moment.",
  content_too_long: "This message is too long.",
  contact_blocked: "You can no longer send messages here.",
  rate_limited: "Too many requests. Please wait a moment.",
  too_many_attachments: "Too many attachments.",
  invalid_attachment: "This file cannot be sent.",
};
export function showError(code, message) {
  const el = $("w-error");
  el.hidden = false;
  el.dataset.code = code;
  el.textContent = ERRORS[code] || message || `Could not send (${code}).`;
}
export function hideError() {
  $("w-error").hidden = true;
}
export function renderHeader(st) {
  $("w-title").textContent = st.config.name || "Chat";
  const status = $("w-status");
  const line = statusLine(st);
  status.querySelector(".dot").className = `dot ${line.online ? "online" : "offline"}`;
  status.querySelector(".txt").textContent = line.text;
}

export function renderUnread(st) {
  const badge = $("unread");
  badge.hidden = st.unread === 0;
  badge.textContent = st.unread > 9 ? "9+" : String(st.unread);
  $("launcher").setAttribute("aria-label", st.unread ? `Open chat, ${st.unread} unread` : "Open chat");
}

export function renderTyping(st) {
  $("w-typing").hidden = !(st.agentTyping > Date.now());
}

function safeUrl(url) {
  try {
    const u = new URL(url, location.href);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (_) { return null; }
}

function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function bubble(m, extra = {}) {
  const mine = m.direction === "incoming";
  if (m.content_attributes && m.content_attributes.deleted) {
    return h("li", { class: `w-msg ${mine ? "mine" : "theirs"} deleted`, dataset: { id: String(m.id ?? "") } },
      h("div", { class: "w-bubble" }, h("div", { class: "w-text w-deleted" }, "This message was deleted")),
      h("div", { class: "w-meta" }, clock(m.created_at)));
  }
  const files = (m.attachments || []).map((a) => {
    const url = safeUrl(a.url);
    if (!url) return null;
    const name = a.name || "attachment";
    return String(a.file_type).startsWith("image/")
      ? h("a", { href: url, target: "_blank", rel: "noopener", title: name }, h("img", { src: url, alt: name, class: "preview" }))
      : h("a", { href: url, target: "_blank", rel: "noopener", class: "w-file", download: name }, `${name} (${formatSize(a.size)})`);
  });
  if (extra.previewUrl) files.push(h("img", { src: extra.previewUrl, alt: "Image", class: "preview" }));
  let status = null;
  if (extra.state) {
    const label = { queued: "waiting for connection…", sending: "sending…", failed: `not sent (${extra.error})` }[extra.state];
    status = h("span", { class: `w-state ${extra.state}` }, label,
      extra.state === "failed" ? h("button", { type: "button", class: "retry", onclick: extra.retry }, "Retry") : null);
  }
  return h("li", { class: `w-msg ${mine ? "mine" : "theirs"}${extra.state ? ` pending ${extra.state}` : ""}`, dataset: { id: String(m.id ?? ""), echo: m.echo_id || "" } },
    !mine && m.sender && m.sender.name ? h("div", { class: "w-sender" }, m.sender.name) : null,
    h("div", { class: "w-bubble" }, m.content ? h("div", { class: "w-text" }, m.content) : null, files),
    h("div", { class: "w-meta" }, clock(m.created_at), status));
}

const previews = new WeakMap();
/** The whole message list; ``onRetry(item)`` sends a failed outbox item again. */
export function render(st, onRetry) {
  const list = $("w-messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const focused = document.activeElement; // a survey comment or email being typed keeps focus
  clear(list);
  const greeting = greetingText(st);
  if (greeting) list.append(h("li", { class: "w-msg theirs greeting" }, h("div", { class: "w-bubble" }, h("div", { class: "w-text" }, greeting))));
  let lastDay = null;
  for (const m of [...st.messages.values()].sort((a, b) => a.id - b.id)) {
    const day = dayKey(m.created_at);
    if (day !== lastDay) { list.append(h("li", { class: "w-day" }, dayLabel(m.created_at))); lastDay = day; }
    list.append(m.content_type === "input_csat" ? csatCard(m, st.actions.csatSubmit) : bubble(m));
    const ask = emailRequest(m, st, st.actions.saveEmail);
    if (ask) list.append(ask);
  }
  for (const item of st.outbox) {
    let previewUrl = null;
    if (item.file && String(item.file.type).startsWith("image/")) {
      previewUrl = previews.get(item.file) || URL.createObjectURL(item.file);
      previews.set(item.file, previewUrl);
    }
    list.append(bubble({ direction: "incoming", content: item.content, created_at: item.created_at, echo_id: item.echo_id },
      { state: item.state, error: item.error, previewUrl, retry: () => onRetry(item) }));
  }
  if (st.conversation && st.conversation.status === "resolved") {
    list.append(h("li", { class: "w-day" }, "This conversation was marked resolved. Write again any time."));
  }
  if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
  if (atBottom || st.outbox.length) scrollToBottom();
}

export function scrollToBottom() {
  const list = $("w-messages");
  list.scrollTop = list.scrollHeight;
}

