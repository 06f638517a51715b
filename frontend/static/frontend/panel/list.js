// Column (a): tabs with counts, filters, and the conversation cards.
import { clear, h, initials } from "../shared/dom.js";
import { messageText, t } from "../shared/i18n.js";
import { duration, relative } from "../shared/time.js";
import { isDeleted } from "./desk.js";
import { labelChips } from "./labels.js";
import { contactName, snippetParts, state, userName, visibleConversations } from "./state.js";

export function renderCounts() {
  for (const el of document.querySelectorAll("[data-count]")) {
    el.textContent = String(state.counts[el.dataset.count] ?? 0);
  }
  for (const tab of document.querySelectorAll("#tabs [data-tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tab === state.filters.tab));
  }
}

export function renderList(ctl) {
  const list = document.getElementById("conv-list");
  const convs = visibleConversations();
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".conv-card");
  const focusedId = focused ? focused.dataset.id : null;
  clear(list);
  if (!convs.length) {
    const empty = state.filters.q ? t("panel.list.no_match") : t("panel.list.empty");
    list.append(h("li", { class: "list-empty" }, state.conn === "connecting" ? t("common.loading") : empty));
  }
  for (const conv of convs) list.append(card(conv, ctl));
  if (state.listNext) {
    list.append(h("li", { class: "list-more" },
      h("button", { type: "button", class: "link", onclick: () => ctl.loadMoreConversations() }, t("panel.list.load_more"))));
  }
  if (focusedId) {
    const again = list.querySelector(`.conv-card[data-id="${CSS.escape(focusedId)}"]`);
    if (again) again.focus();
  }
}

/** The "Messages" section under the list while searching: message hits with their snippets
 *  (built as text nodes and <mark> elements from snippetParts, never parsed as HTML). */
export function renderHits(ctl) {
  let section = document.getElementById("message-hits");
  if (!section) {
    const list = document.getElementById("conv-list");
    section = h("section", { id: "message-hits", class: "message-hits", "aria-label": t("panel.hits.title") });
    list.after(section);
  }
  clear(section);
  section.setAttribute("aria-label", t("panel.hits.title")); // again after a language change
  const hits = state.hits;
  section.hidden = !state.filters.q;
  if (!state.filters.q) return;
  section.append(h("h3", { class: "hits-title" }, t("panel.hits.title")));
  const ul = h("ul", { class: "hit-list", dataset: { testid: "message-hits" } });
  if (!hits.results.length) {
    ul.append(h("li", { class: "list-empty" }, hits.loading ? t("panel.hits.searching") : t("panel.hits.none")));
  }
  for (const hit of hits.results) ul.append(hitCard(hit, ctl));
  section.append(ul);
  if (hits.next) {
    section.append(h("button", { type: "button", class: "link", onclick: () => ctl.loadMoreHits() }, t("panel.hits.more")));
  }
}

function hitCard(hit, ctl) {
  const contact = (hit.conversation && hit.conversation.contact) || {};
  const name = contactName(contact);
  const open = () => ctl.select(hit.conversation_id);
  return h("li", {
      class: `hit-card${hit.private ? " private" : ""}`, tabindex: "0",
      dataset: { testid: "message-hit", conversation: String(hit.conversation_id), id: String(hit.id) },
      onclick: open,
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } },
    },
    h("div", { class: "card-row" },
      h("span", { class: "card-name" }, name),
      h("span", { class: "card-id muted" }, `#${hit.conversation.display_id}`),
      h("span", { class: "spacer" }),
      h("time", { class: "card-time muted", datetime: hit.created_at || "" }, relative(hit.created_at))),
    h("div", { class: "hit-snippet" },
      hit.private ? h("span", { class: "muted" }, t("panel.list.note_prefix")) : null,
      snippetParts(hit.snippet).map((part) => (part.mark ? h("mark", {}, part.text) : part.text))));
}

function card(conv, ctl) {
  const contact = conv.contact || {};
  const name = contactName(contact);
  const last = conv.last_message;
  const typing = (state.typing.get(conv.id) || 0) > Date.now();
  let snippet = "";
  if (typing) snippet = t("common.typing");
  else if (last) snippet = (last.private ? t("panel.list.note_prefix") : last.direction === "outgoing" ? t("panel.list.you_prefix") : "") + (messageText(last) || (last.attachments && last.attachments.length ? t("common.attachment") : ""));
  if (!typing && last && (last.deleted || isDeleted(last))) snippet = t("panel.desk.deleted"); // its content is blank
  const selected = conv.id === state.selectedId;
  const assignee = conv.assignee;
  const chips = [];
  if (conv.priority && conv.priority !== "none") chips.push(h("span", { class: `chip prio-${conv.priority}` }, t(`priority.${conv.priority}`)));
  if (conv.status !== "open") chips.push(h("span", { class: `chip status-${conv.status}` }, t(`status.${conv.status}`)));
  if (conv.waiting_since && conv.status === "open") {
    chips.push(h("span", { class: "chip waiting", title: t("panel.list.waiting_title") }, t("panel.list.waiting", { duration: duration(conv.waiting_since) })));
  }
  return h("li", {
      class: `conv-card${selected ? " selected" : ""}${conv.unread_count ? " unread" : ""}`,
      role: "option", tabindex: "0", "aria-selected": String(selected),
      dataset: { id: String(conv.id), testid: "conversation-card" },
      onclick: () => ctl.select(conv.id),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); ctl.select(conv.id); } },
    },
    h("div", { class: "avatar", "aria-hidden": "true" }, initials(name)),
    h("div", { class: "card-main" },
      h("div", { class: "card-row" },
        h("span", { class: "card-name" }, name),
        h("span", { class: "card-id muted" }, `#${conv.display_id}`),
        h("span", { class: "spacer" }),
        h("time", { class: "card-time muted", datetime: conv.last_activity_at || "" }, relative(conv.last_activity_at))),
      h("div", { class: "card-row" },
        h("span", { class: `card-snippet${typing ? " typing" : ""}` }, snippet),
        conv.unread_count ? h("span", { class: "badge", "aria-label": t("panel.list.unread", { count: conv.unread_count }) }, String(conv.unread_count)) : null),
      h("div", { class: "card-row chips" },
        chips,
        labelChips(conv.labels),
        h("span", { class: "spacer" }),
        assignee
          ? h("span", { class: "assignee", title: t("panel.list.assigned_to", { name: userName(assignee) }) },
              presenceDot(assignee.id), h("span", { class: "mini-avatar" }, initials(userName(assignee))))
          : h("span", { class: "muted small" }, t("panel.list.unassigned")))));
}

export function presenceDot(userId) {
  const status = state.presence.get(userId) || "offline";
  return h("span", { class: `dot ${status}`, title: t(`presence.${status}`), "aria-label": t(`presence.${status}`) });
}

export function moveSelection(ctl, delta) {
  const convs = visibleConversations();
  if (!convs.length) return;
  let index = convs.findIndex((c) => c.id === state.selectedId);
  index = index < 0 ? 0 : Math.min(convs.length - 1, Math.max(0, index + delta));
  ctl.select(convs[index].id);
  const el = document.querySelector(`.conv-card[data-id="${convs[index].id}"]`);
  if (el) { el.focus(); el.scrollIntoView({ block: "nearest" }); }
}
