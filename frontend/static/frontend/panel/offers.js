// Ring mode (docs/assignment.md "Ring mode"): a conversation offered to me shows as a toast
// "New conversation from <contact> — Accept / Decline" with a live countdown to expires_at.
// It goes away in every tab on accept (assignee.changed), decline or timeout
// (conversation.offer_withdrawn), resolve, or when expires_at passes on the server's clock.
// Sources: GET /api/v1/offers/ on load (a reload mid-ring still shows it) and the durable
// events, which replay on resume (the withdrawal after the offer clears it).
import { h } from "../shared/dom.js";
import { CHANGE_EVENT, t } from "../shared/i18n.js";
import { COMMAND, ERROR, EVENT } from "../shared/protocol.js";

const css = document.createElement("link");
css.rel = "stylesheet";
css.href = new URL("./offers.css", import.meta.url).href;
document.head.append(css);

/**
 * @param {object} fx
 * @param {(type: string, data: object, rest: () => Promise<any>) => Promise<any>} fx.command  socket first, REST fallback
 * @param {object} fx.api  panel/api.js
 * @param {(conv: object) => void} fx.opened  the accepted conversation (to show it)
 * @param {(text: string) => void} fx.toast
 */
export function createOffers({ command, api, opened, toast }) {
  const offers = new Map(); // conversation id -> {conversation_id, expires_at, contact, display_id, el, busy}
  let skewMs = 0; // server clock minus ours (from the offers list's "now")
  let timer = 0;

  const serverNow = () => Date.now() + skewMs;

  function stack() {
    let el = document.getElementById("offers");
    if (!el) {
      el = h("div", { id: "offers", class: "offers", role: "region", "aria-label": t("panel.offers.region") });
      document.body.append(el);
    }
    return el;
  }

  function contactName(offer) {
    const c = offer.contact || {};
    return c.name || c.email || c.phone || (c.id != null ? t("common.visitor_numbered", { id: c.id }) : t("common.visitor"));
  }

  function add(data) {
    const cid = data.conversation_id;
    const expiresAt = Date.parse(data.expires_at);
    if (!Number.isFinite(expiresAt) || expiresAt <= serverNow()) return; // a replay of an old offer
    const existing = offers.get(cid);
    if (existing && existing.expiresAt === expiresAt) return;
    if (existing) existing.el.remove();
    const offer = { ...data, expiresAt, busy: false };
    const count = h("span", { class: "offer-count", "aria-live": "off" });
    const accept = h("button", { class: "primary", type: "button", "data-action": "accept", onclick: () => answer(offer, true) });
    const decline = h("button", { type: "button", "data-action": "decline", onclick: () => answer(offer, false) });
    const text = h("div", { class: "offer-text" });
    offer.el = h("div", { class: "offer", role: "alertdialog", dataset: { conversationId: String(cid) } },
      text, h("div", { class: "offer-actions" }, accept, decline, count));
    offer.count = count;
    // Its words, now and again after a language change: the contact's name stays a text node.
    offer.relabel = () => {
      const [before, after = ""] = t("panel.offers.from", { number: offer.display_id ?? cid }).split("{name}");
      text.replaceChildren(before, h("strong", {}, contactName(offer)), after);
      offer.el.setAttribute("aria-label", t("panel.offers.label"));
      accept.textContent = t("panel.offers.accept");
      decline.textContent = t("panel.offers.decline");
    };
    offer.relabel();
    offers.set(cid, offer);
    stack().append(offer.el);
    tick();
    if (!timer) timer = setInterval(tick, 250);
  }

  function remove(cid) {
    const offer = offers.get(cid);
    if (!offer) return;
    offer.el.remove();
    offers.delete(cid);
    if (!offers.size) { clearInterval(timer); timer = 0; }
  }

  function tick() {
    const now = serverNow();
    for (const [cid, offer] of offers) {
      const left = Math.ceil((offer.expiresAt - now) / 1000);
      if (left <= 0) remove(cid);
      else offer.count.textContent = t("panel.offers.seconds_left", { count: left });
    }
  }

  async function answer(offer, accepting) {
    if (offer.busy) return;
    offer.busy = true;
    offer.el.classList.add("busy");
    const cid = offer.conversation_id;
    try {
      if (accepting) {
        const conv = await command(COMMAND.CONVERSATION_ACCEPT, { conversation_id: cid }, () => api.acceptOffer(cid));
        remove(cid);
        if (conv && conv.id != null) opened(conv);
      } else {
        await command(COMMAND.CONVERSATION_DECLINE, { conversation_id: cid }, () => api.declineOffer(cid));
        remove(cid);
      }
    } catch (err) {
      const code = err && err.code;
      if (code === ERROR.CONFLICT || code === ERROR.NOT_FOUND) {
        remove(cid);
        toast(t("panel.offers.gone"));
      } else {
        offer.busy = false;
        offer.el.classList.remove("busy");
        toast(t("panel.error.action_failed", { action: t(accepting ? "panel.offers.accept" : "panel.offers.decline"),
          reason: (err && (err.message || code)) || t("common.error") }));
      }
    }
  }

  /** A durable event (live or replayed): offers come and go. */
  function apply(ev) {
    const data = ev.data || {};
    switch (ev.type) {
      case EVENT.CONVERSATION_OFFERED:
        add(data);
        break;
      case EVENT.CONVERSATION_OFFER_WITHDRAWN:
        remove(data.conversation_id ?? ev.conversation_id);
        break;
      case EVENT.ASSIGNEE_CHANGED:
        if (data.assignee) remove(ev.conversation_id);
        break;
      case EVENT.CONVERSATION_STATUS_CHANGED:
        if (data.status && data.status !== "open") remove(ev.conversation_id);
        break;
      default:
        break;
    }
  }

  /** The still-pending offers (panel load, resync): replaces what is shown. */
  async function load() {
    const body = await api.offers();
    if (body && body.now) skewMs = Date.parse(body.now) - Date.now();
    const live = new Set();
    for (const offer of (body && body.results) || []) { live.add(offer.conversation_id); add(offer); }
    for (const cid of [...offers.keys()]) if (!live.has(cid)) remove(cid);
  }

  document.addEventListener(CHANGE_EVENT, () => {
    for (const offer of offers.values()) offer.relabel();
    const region = document.getElementById("offers");
    if (region) region.setAttribute("aria-label", t("panel.offers.region"));
  });

  return { apply, load, pending: () => [...offers.keys()] };
}
