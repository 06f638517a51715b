// Column (b): header with actions, message history (infinite scroll upwards, day separators),
// typing line and composer. The skeleton is built once per opened conversation so that the
// composer keeps its text; the header and messages re-render from state.
import { clear, h, initials } from "../shared/dom.js";
import { CHANGE_EVENT, messageText, t } from "../shared/i18n.js";
import { clock, dayKey, dayLabel, full } from "../shared/time.js";
import { attachCannedPicker } from "./canned.js";
import { closeLabelEditor, labelChips, labelEditorOpenFor, openLabelEditor } from "./labels.js";
import { presenceDot } from "./list.js";
import { contactName, state, thread, userName } from "./state.js";
import { attachPicker, attachmentsView, deleteControl, deletedText, isDeleted, pendingFilesView, renderDeskTyping } from "./desk.js";

let built = null; // {id, root, header, scroller, messages, typing, composer, input, mode}

export function renderThread(ctl) {
  const root = document.getElementById("thread");
  const id = state.selectedId;
  if (id == null) {
    built = null;
    clear(root).append(h("div", { class: "empty-state" }, t("panel.thread.empty")));
    return;
  }
  if (!built || built.id !== id) build(root, id, ctl);
  renderHeader(ctl);
  renderMessages(ctl);
  renderTyping();
}

function build(root, id, ctl) {
  closeLabelEditor();
  clear(root);
  const header = h("header", { class: "thread-header" });
  const messages = h("ol", { class: "messages", "aria-live": "polite", "aria-label": t("panel.thread.messages") });
  const scroller = h("div", { class: "scroller", tabindex: "0" }, messages);
  const typing = h("div", { class: "typing-line", hidden: true, dataset: { testid: "contact-typing" } });
  const input = h("textarea", {
    id: "composer-input", rows: "3", placeholder: t("panel.composer.placeholder_reply"),
    "aria-label": t("panel.composer.label"),
  });
  const modeReply = h("button", { type: "button", class: "mode active", "aria-pressed": "true" }, t("panel.composer.reply"));
  const modeNote = h("button", { type: "button", class: "mode", "aria-pressed": "false" }, t("panel.composer.note"));
  const sendBtn = h("button", { type: "submit", class: "primary" }, t("common.send"));
  const composer = h("form", { class: "composer" },
    h("div", { class: "composer-modes" }, modeReply, modeNote, h("span", { class: "spacer" }),
      h("span", { class: "muted small composer-hint" }, t("panel.composer.hint"))),
    input,
    h("div", { class: "composer-actions" }, h("span", { class: "spacer" }), sendBtn));
  const picker = attachPicker(composer, input);
  sendBtn.before(picker.button, picker.field);
  built = { id, root, header, scroller, messages, typing, composer, input, mode: "reply", stickBottom: true,
    // The skeleton's words again, in a language chosen since (i18n:change).
    relabel: () => {
      messages.setAttribute("aria-label", t("panel.thread.messages"));
      input.setAttribute("aria-label", t("panel.composer.label"));
      input.placeholder = built.mode === "note" ? t("panel.composer.placeholder_note") : t("panel.composer.placeholder_reply");
      modeReply.textContent = t("panel.composer.reply");
      modeNote.textContent = t("panel.composer.note");
      sendBtn.textContent = t("common.send");
      composer.querySelector(".composer-hint").textContent = t("panel.composer.hint");
      picker.relabel();
    } };
  const setMode = (mode) => {
    built.mode = mode;
    composer.classList.toggle("private", mode === "note");
    modeReply.classList.toggle("active", mode === "reply");
    modeNote.classList.toggle("active", mode === "note");
    modeReply.setAttribute("aria-pressed", String(mode === "reply"));
    modeNote.setAttribute("aria-pressed", String(mode === "note"));
    input.placeholder = mode === "note" ? t("panel.composer.placeholder_note") : t("panel.composer.placeholder_reply");
    if (input.value) ctl.typingActivity(id, mode === "note"); // colleagues (and the visitor) see the switch
    input.focus();
  };
  modeReply.addEventListener("click", () => setMode("reply"));
  modeNote.addEventListener("click", () => setMode("note"));
  const submit = () => {
    const text = input.value;
    if (!text.trim() && !picker.count()) return;
    input.value = "";
    ctl.typingStop(id);
    ctl.send(id, text, built.mode === "note", picker.take());
  };
  composer.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    if (e.key === "Escape") input.blur();
  });
  attachCannedPicker({ form: composer, input, inboxId: () => (state.convs.get(id) || {}).inbox,
    onInsert: () => ctl.typingActivity(id, built.mode === "note") });
  input.addEventListener("input", () => { if (input.value) ctl.typingActivity(id, built.mode === "note"); else ctl.typingStop(id); });
  input.addEventListener("blur", () => ctl.typingStop(id));
  scroller.addEventListener("scroll", () => {
    built.stickBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    if (scroller.scrollTop < 80) ctl.loadOlder(id);
  });
  root.append(header, scroller, typing, composer);
}

function renderHeader(ctl) {
  const conv = state.convs.get(built.id);
  clear(built.header);
  if (!conv) return;
  const contact = conv.contact || {};
  const name = contactName(contact);
  const inbox = state.inboxes.get(conv.inbox);
  const assign = h("select", { "aria-label": t("panel.thread.assignee"), dataset: { testid: "assign" } },
    h("option", { value: "" }, t("panel.thread.unassigned")));
  // Supervisors and administrators assign to any member of the conversation's inbox; agents
  // may only take a conversation or release their own (the server enforces it).
  const people = new Map();
  const canAssignOthers = state.me.role && state.me.role !== "agent";
  const members = !canAssignOthers ? []
    : inbox && inbox.members && inbox.members.length ? inbox.members : [...state.users.values()];
  for (const user of members) people.set(user.id, { ...user, ...(state.users.get(user.id) || {}) });
  if (conv.assignee) people.set(conv.assignee.id, { ...conv.assignee, ...(people.get(conv.assignee.id) || {}) });
  people.set(state.me.id, { ...state.me, ...(people.get(state.me.id) || {}) });
  for (const user of [...people.values()].sort((a, b) => userName(a).localeCompare(userName(b)))) {
    const label = user.id === state.me.id ? t("panel.thread.me", { name: userName(user) }) : userName(user);
    const status = state.presence.get(user.id);
    assign.append(h("option", { value: String(user.id), disabled: !canAssignOthers && user.id !== state.me.id },
      status ? `${label} · ${t(`presence.${status}`)}` : label));
  }
  assign.value = conv.assignee ? String(conv.assignee.id) : "";
  assign.addEventListener("change", () => ctl.assign(conv.id, assign.value ? Number(assign.value) : null));
  const priority = h("select", { "aria-label": t("panel.thread.priority") },
    ["none", "low", "medium", "high", "urgent"].map((p) => h("option", { value: p }, p === "none" ? t("panel.thread.no_priority") : t(`priority.${p}`))));
  priority.value = conv.priority || "none";
  priority.addEventListener("change", () => ctl.priority(conv.id, priority.value));
  const snooze = h("select", { "aria-label": t("panel.thread.snooze") },
    h("option", { value: "" }, t("panel.thread.snooze_menu")),
    h("option", { value: "reply" }, t("panel.thread.snooze_reply")),
    h("option", { value: "1h" }, t("panel.thread.snooze_1h")),
    h("option", { value: "tomorrow" }, t("panel.thread.snooze_tomorrow")),
    h("option", { value: "week" }, t("panel.thread.snooze_week")),
    h("option", { value: "custom" }, t("panel.thread.snooze_custom")));
  const pick = h("input", { type: "datetime-local", "aria-label": t("panel.thread.snooze_until"), hidden: true,
    min: new Date(Date.now() - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16) });
  const pickGo = h("button", { type: "button", hidden: true }, t("panel.thread.snooze"));
  snooze.addEventListener("change", () => {
    if (snooze.value === "custom") {
      pick.hidden = pickGo.hidden = pick.parentNode.hidden = false;
      pick.focus();
      return;
    }
    const choice = snooze.value;
    const until = snoozeUntil(choice);
    snooze.value = "";
    // No time: snoozed until the contact writes again (DESIGN §11).
    if (choice === "reply") ctl.status(conv.id, "snoozed", null);
    else if (until) ctl.status(conv.id, "snoozed", until);
  });
  pickGo.addEventListener("click", () => {
    const when = pick.value ? new Date(pick.value) : null;
    if (when && !Number.isNaN(when.getTime())) ctl.status(conv.id, "snoozed", when.toISOString());
  });
  const resolved = conv.status === "resolved";
  // Secondary actions live in a "More" menu so that the header stays one row at 1280 px
  // (docs/frontend.md); the menu stays open across re-renders of the header.
  const more = h("details", { class: "more-menu", dataset: { testid: "more-actions" } },
    h("summary", { class: "button", "aria-label": t("panel.thread.more_actions") }, t("panel.thread.more")),
    h("div", { class: "menu-items", role: "group", "aria-label": t("panel.thread.more_actions") },
      conv.status === "pending" ? null
        : h("button", { type: "button", onclick: () => ctl.status(conv.id, "pending") }, t("panel.thread.pending")),
      priority,
      h("button", { type: "button", class: "warn", onclick: () => ctl.escalate(conv.id) }, t("panel.thread.escalate")),
      // A plain link: the session cookie authenticates the GET, the server names the file.
      h("a", { class: "button", href: `/api/v1/conversations/${conv.id}/transcript?format=txt`, download: "",
        dataset: { testid: "download-transcript" } }, t("common.download_transcript"))));
  more.open = moreOpenFor === conv.id;
  more.addEventListener("toggle", () => { moreOpenFor = more.open ? conv.id : null; });
  built.header.append(
    h("button", { type: "button", class: "icon back", "aria-label": t("panel.thread.back"), onclick: () => ctl.select(null) }, "←"),
    h("div", { class: "avatar" }, initials(name)),
    h("div", { class: "thread-title" },
      h("div", {}, h("strong", {}, name), " ", h("span", { class: "muted" }, `#${conv.display_id}`)),
      h("div", { class: "muted small" },
        h("span", { class: `chip status-${conv.status}`, dataset: { testid: "status" } }, t(`status.${conv.status}`)),
        conv.snoozed_until ? ` ${t("panel.thread.until", { time: full(conv.snoozed_until) })}`
          : conv.status === "snoozed" ? ` ${t("panel.thread.until_reply")}` : "",
        inbox ? ` · ${inbox.name}` : "",
        conv.assignee ? h("span", {}, " · ", presenceDot(conv.assignee.id), ` ${userName(conv.assignee)}`) : ""),
      h("div", { class: "thread-labels", dataset: { testid: "thread-labels" } }, labelChips(conv.labels),
        h("button", { type: "button", class: "link small", "aria-expanded": String(labelEditorOpenFor() === conv.id),
          dataset: { testid: "edit-labels" },
          onclick: () => (labelEditorOpenFor() === conv.id ? closeLabelEditor()
            : openLabelEditor(conv, built.root, (names) => ctl.setLabels(conv.id, names))) },
          (conv.labels || []).length ? t("panel.labels.edit") : t("panel.labels.add")))),
    h("span", { class: "spacer" }),
    h("div", { class: "actions" },
      assign,
      conv.assignee && conv.assignee.id === state.me.id ? null
        : h("button", { type: "button", onclick: () => ctl.assign(conv.id, state.me.id) }, t("panel.thread.assign_to_me")),
      h("button", { type: "button", class: resolved ? "" : "primary", dataset: { testid: "toggle-status" },
        onclick: () => ctl.status(conv.id, resolved ? "open" : "resolved") }, resolved ? t("panel.thread.reopen") : t("panel.thread.resolve")),
      snooze,
      more,
      h("button", { type: "button", class: "icon toggle-contact", "aria-label": t("panel.thread.contact_details"),
        onclick: () => document.body.classList.toggle("show-contact") }, t("panel.thread.contact"))),
    h("div", { class: "snooze-pick", hidden: true }, pick, pickGo));
}

let moreOpenFor = null;
document.addEventListener("click", (e) => {
  // A click outside the open "More" menu closes it, as menus do.
  const open = document.querySelector(".more-menu[open]");
  if (open && !open.contains(e.target)) open.open = false;
});

function snoozeUntil(choice) {
  const d = new Date();
  if (choice === "1h") return new Date(d.getTime() + 3_600_000).toISOString();
  if (choice === "tomorrow") { d.setDate(d.getDate() + 1); d.setHours(9, 0, 0, 0); return d.toISOString(); }
  if (choice === "week") { d.setDate(d.getDate() + ((8 - d.getDay()) % 7 || 7)); d.setHours(9, 0, 0, 0); return d.toISOString(); }
  return null;
}

export function renderMessages(ctl) {
  if (!built) return;
  const th = thread(built.id);
  const conv = state.convs.get(built.id) || {};
  const { scroller, messages } = built;
  const prevHeight = scroller.scrollHeight;
  const prevTop = scroller.scrollTop;
  clear(messages);
  if (th.loading && !th.loaded) messages.append(h("li", { class: "sys muted" }, t("common.loading")));
  else if (th.loaded && !th.hasMore) messages.append(h("li", { class: "sys muted" }, t("panel.thread.beginning")));
  else if (th.hasMore) messages.append(h("li", { class: "sys muted" }, th.loading ? t("panel.thread.loading_older") : t("panel.thread.scroll_older")));
  let lastDay = null;
  const seenAt = conv.contact_last_seen_at ? Date.parse(conv.contact_last_seen_at) : 0;
  for (const m of th.sorted()) {
    const day = dayKey(m.created_at);
    if (day !== lastDay) {
      messages.append(h("li", { class: "day-sep", role: "separator" }, h("span", {}, dayLabel(m.created_at))));
      lastDay = day;
    }
    const seen = m.direction === "outgoing" && !m.private && seenAt && seenAt >= Date.parse(m.created_at);
    messages.append(bubble(m, { state: seen ? "seen" : "sent", ctl }));
  }
  for (const p of th.pending.values()) {
    messages.append(bubble(
      { direction: "outgoing", private: p.private, content: p.content, created_at: p.created_at, sender: { type: "user", ...state.me }, echo_id: p.echo_id, files: p.files },
      { state: p.state, error: p.error, retry: () => ctl.retry(built.id, p.echo_id), discard: () => ctl.discard(built.id, p.echo_id) }));
  }
  if (built.stickBottom) scroller.scrollTop = scroller.scrollHeight;
  else if (built.prepended) scroller.scrollTop = prevTop + (scroller.scrollHeight - prevHeight);
  built.prepended = false;
}

export function markPrepending() {
  if (built) built.prepended = true;
}

function bubble(m, { state: deliveryState, error, retry, discard, ctl }) {
  if (m.direction === "activity") {
    return h("li", { class: "activity", dataset: { id: String(m.id ?? "") } },
      h("span", {}, messageText(m)), h("time", { class: "muted small", datetime: m.created_at, title: full(m.created_at) }, ` ${clock(m.created_at)}`));
  }
  const who = m.direction === "incoming"
    ? (m.sender && m.sender.name) || t("common.visitor")
    : userName(m.sender) || (m.sender ? t("common.operator") : t("panel.message.automatic")); // sender null: survey, out of office
  const cls = ["msg", m.direction, m.private ? "private" : "", deliveryState === "error" ? "failed" : ""].filter(Boolean).join(" ");
  const meta = h("div", { class: "msg-meta" },
    h("span", { class: "who" }, who),
    m.private ? h("span", { class: "chip note" }, t("panel.message.private_note")) : null,
    h("time", { datetime: m.created_at || "", title: full(m.created_at) }, clock(m.created_at)),
    m.direction === "outgoing"
      ? h("span", { class: `delivery ${deliveryState}`, dataset: { testid: "delivery" } },
          deliveryState === "sending" ? t("panel.message.sending") : deliveryState === "error" ? t("panel.message.failed", { error }) : deliveryState === "seen" ? t("panel.message.seen") : t("panel.message.sent"))
      : null,
    deliveryState === "error" && retry ? h("button", { type: "button", class: "link", onclick: retry }, t("common.retry")) : null,
    deliveryState === "error" && discard ? h("button", { type: "button", class: "link", onclick: discard }, t("common.discard")) : null,
    ctl && m.id != null ? deleteControl(m, (msg) => ctl.deleteMessage(msg.conversation_id, msg.id)) : null);
  const body = isDeleted(m) ? [deletedText()]
    : [m.content ? h("div", { class: "msg-text" }, m.content) : null, attachmentsView(m), pendingFilesView(m.files)];
  return h("li", { class: `${cls}${isDeleted(m) ? " deleted" : ""}`, dataset: { id: String(m.id ?? ""), echo: m.echo_id || "" } },
    h("div", { class: "msg-body" }, body),
    meta);
}

export function renderTyping() {
  if (!built) return;
  const until = state.typing.get(built.id) || 0;
  const on = until > Date.now();
  const conv = state.convs.get(built.id);
  built.typing.hidden = !on;
  built.typing.textContent = on ? t("common.is_typing", { name: contactName(conv && conv.contact) }) : "";
  renderDeskTyping(built.typing, built.id);
}

export function focusComposer() {
  if (built) built.input.focus();
}

// A language chosen from the top bar: the kept skeleton (composer) says its words again; the
// controller re-renders the rest.
document.addEventListener(CHANGE_EVENT, () => { if (built) built.relabel(); });
