// Column (c): the contact of the open conversation, its attributes, previous conversations,
// and block / unblock.
import { clear, h, initials } from "../shared/dom.js";
import { t } from "../shared/i18n.js";
import { ago, relative } from "../shared/time.js";
import { api } from "./api.js";
import { contactName, state } from "./state.js";

const cache = new Map(); // contact id -> {contact, conversations, loading}

export function invalidateContact(contactId) {
  cache.delete(contactId);
}

export function renderContact(ctl) {
  const root = document.getElementById("contact");
  clear(root);
  const conv = state.convs.get(state.selectedId);
  if (!conv || !conv.contact) return;
  const summary = conv.contact;
  let entry = cache.get(summary.id);
  if (!entry) {
    entry = { contact: null, conversations: null };
    cache.set(summary.id, entry);
    Promise.allSettled([api.contact(summary.id), api.contactConversations(summary.id)]).then(([c, list]) => {
      if (c.status === "fulfilled") entry.contact = c.value;
      if (list.status === "fulfilled") entry.conversations = list.value && (list.value.results || list.value);
      entry.failed = c.status === "rejected";
      if (state.selectedId === conv.id) renderContact(ctl);
    });
  }
  const contact = { ...summary, ...(entry.contact || {}) };
  const name = contactName(contact);
  const field = (label, value) => h("div", { class: "field" }, h("dt", {}, label), h("dd", {}, value || "—"));
  const custom = contact.custom_attributes || {};
  const convCustom = conv.custom_attributes || {};
  const attrs = Object.entries({ ...custom, ...convCustom });
  root.append(
    h("div", { class: "contact-head" },
      h("div", { class: "avatar big" }, initials(name)),
      h("div", {}, h("strong", { dataset: { testid: "contact-name" } }, name),
        contact.blocked ? h("div", { class: "chip blocked" }, t("panel.contact.blocked")) : null)),
    h("dl", { class: "fields" },
      field(t("panel.contact.email"), contact.email),
      field(t("panel.contact.phone"), contact.phone),
      field(t("panel.contact.identifier"), contact.identifier),
      field(t("panel.contact.last_activity"), contact.last_activity_at ? ago(contact.last_activity_at) : "")),
    h("h3", {}, t("panel.contact.attributes")),
    attrs.length
      ? h("dl", { class: "fields" }, attrs.map(([k, v]) => field(k, typeof v === "string" ? v : JSON.stringify(v))))
      : h("p", { class: "muted small" }, t("panel.contact.no_attributes")),
    h("h3", {}, t("panel.contact.previous")),
    previous(entry, conv, ctl),
    h("div", { class: "contact-actions" },
      h("button", { type: "button", class: contact.blocked ? "" : "warn", dataset: { testid: "block" },
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            const updated = contact.blocked ? await api.unblock(contact.id) : await api.block(contact.id);
            entry.contact = { ...(entry.contact || {}), ...(updated && updated.id ? updated : { blocked: !contact.blocked }) };
            conv.contact = { ...conv.contact, blocked: entry.contact.blocked };
          } catch (err) {
            ctl.toast(t(contact.blocked ? "panel.contact.unblock_failed" : "panel.contact.block_failed", { code: err.code }));
          }
          renderContact(ctl);
        } }, contact.blocked ? t("panel.contact.unblock") : t("panel.contact.block"))));
}

function previous(entry, conv, ctl) {
  if (!entry.conversations) return h("p", { class: "muted small" }, entry.failed ? t("common.unavailable") : t("common.loading"));
  const others = entry.conversations.filter((c) => c.id !== conv.id);
  if (!others.length) return h("p", { class: "muted small" }, t("common.none"));
  return h("ul", { class: "prev-list" }, others.map((c) =>
    h("li", {}, h("button", { type: "button", class: "link", onclick: () => ctl.openConversation(c) },
      `#${c.display_id} · ${t(`status.${c.status}`)} · ${relative(c.last_activity_at)}`))));
}
