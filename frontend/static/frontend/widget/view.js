// The widget's DOM: header, bubble counter, typing line, message list, error line. Content is
// only ever set as text (dom.js h()); attachment URLs only when http(s). Every word comes from
// the catalogues (shared/i18n.js); dates and times are the reader's (Intl). The frame renders
// everything again when the language changes.
import { clear, h } from "../shared/dom.js";
import { formatDay, formatTime, getLocale, t } from "../shared/i18n.js";
import { csatCard, emailRequest, greetingText, statusLine } from "./desk.js";

const $ = (id) => document.getElementById(id);
/** Which calendar day (the browser's zone, as formatDay's): a new one starts a day line. */
const dayKey = (iso) => (iso ? new Date(iso).toDateString() : "");

// Codes the widget explains in its own words (widget.error.<code>); any other refusal shows the
// server's message (in the visitor's language), else "Could not send (code)".
const ERROR_CODES = new Set(["flood_limited", "content_too_long", "contact_blocked", "rate_limited",
  "too_many_attachments", "invalid_attachment"]);
let shownError = null; // {code, message}: shown again in a new language
export function showError(code, message) {
  const el = $("w-error");
  shownError = { code, message };
  el.hidden = false;
  el.dataset.code = code;
  el.textContent = ERROR_CODES.has(code) ? t(`widget.error.${code}`) : message || t("widget.error.generic", { code });
}
export function hideError() {
  shownError = null;
  $("w-error").hidden = true;
}
/** The error line in the current language (after a language change). */
export function relabelError() {
  if (shownError && !$("w-error").hidden) showError(shownError.code, shownError.message);
}
export function renderHeader(st) {
  $("w-title").textContent = st.config.name || t("widget.title");
  const status = $("w-status");
  const line = statusLine(st);
  status.querySelector(".dot").className = `dot ${line.online ? "online" : "offline"}`;
  status.querySelector(".txt").textContent = line.text;
}

export function renderUnread(st) {
  const badge = $("unread");
  badge.hidden = st.unread === 0;
  badge.textContent = st.unread > 9 ? "9+" : String(st.unread);
  $("launcher").setAttribute("aria-label", st.unread ? t("widget.launcher.open_unread", { count: st.unread }) : t("widget.launcher.open"));
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
  const number = (value, digits) => new Intl.NumberFormat(getLocale(), { maximumFractionDigits: digits }).format(value);
  if (n < 1024) return t("widget.size.bytes", { size: number(n, 0) });
  if (n < 1024 * 1024) return t("widget.size.kilobytes", { size: number(Math.round(n / 1024), 0) });
  return t("widget.size.megabytes", { size: number(n / 1024 / 1024, 1) });
}

function bubble(m, extra = {}) {
  const mine = m.direction === "incoming";
  if (m.content_attributes && m.content_attributes.deleted) {
    return h("li", { class: `w-msg ${mine ? "mine" : "theirs"} deleted`, dataset: { id: String(m.id ?? "") } },
      h("div", { class: "w-bubble" }, h("div", { class: "w-text w-deleted" }, t("widget.message.deleted"))),
      h("div", { class: "w-meta" }, formatTime(m.created_at)));
  }
  const files = (m.attachments || []).map((a) => {
    const url = safeUrl(a.url);
    if (!url) return null;
    const name = a.name || t("common.attachment");
    return String(a.file_type).startsWith("image/")
      ? h("a", { href: url, target: "_blank", rel: "noopener", title: name }, h("img", { src: url, alt: name, class: "preview" }))
      : h("a", { href: url, target: "_blank", rel: "noopener", class: "w-file", download: name }, `${name} (${formatSize(a.size)})`);
  });
  if (extra.previewUrl) files.push(h("img", { src: extra.previewUrl, alt: t("common.image"), class: "preview" }));
  let status = null;
  if (extra.state) {
    const label = extra.state === "failed" ? t("widget.message.failed", { error: extra.error })
      : t(extra.state === "sending" ? "widget.message.sending" : "widget.message.queued");
    status = h("span", { class: `w-state ${extra.state}` }, label,
      extra.state === "failed" ? h("button", { type: "button", class: "retry", onclick: extra.retry }, t("common.retry")) : null);
  }
  return h("li", { class: `w-msg ${mine ? "mine" : "theirs"}${extra.state ? ` pending ${extra.state}` : ""}`, dataset: { id: String(m.id ?? ""), echo: m.echo_id || "" } },
    !mine && m.sender && m.sender.name ? h("div", { class: "w-sender" }, m.sender.name) : null,
    h("div", { class: "w-bubble" }, m.content ? h("div", { class: "w-text" }, m.content) : null, files),
    h("div", { class: "w-meta" }, formatTime(m.created_at), status));
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
    if (day !== lastDay) { list.append(h("li", { class: "w-day" }, formatDay(m.created_at))); lastDay = day; }
    list.append(m.content_type === "input_csat" ? csatCard(m, st.actions.csatSubmit, st.config.csat_question) : bubble(m));
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
    list.append(h("li", { class: "w-day" }, t("widget.resolved")));
  }
  if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
  if (atBottom || st.outbox.length) scrollToBottom();
}

export function scrollToBottom() {
  const list = $("w-messages");
  list.scrollTop = list.scrollHeight;
}

