// How durable and ephemeral events change the panel's state (DESIGN.md §7 event types).
// Applying an event twice changes nothing: ids are deduplicated (state.firstSight) and messages
// are keyed by id. Side effects (fetching an unknown conversation, marking read, notifying,
// re-rendering) are the controller's, passed in.
import { invalidateContact } from "./contact.js";
import { applyTypingFrame, isDeleted, messageEndsTyping } from "./desk.js";
import { adjustCounts, firstSight, rememberUser, state, upsertConversation } from "./state.js";
import { EPHEMERAL, EVENT } from "../shared/protocol.js";

/**
 * @param {object} fx
 * @param {(...parts: string[]) => void} fx.schedule
 * @param {() => void} fx.refreshCounts
 * @param {(id: number) => Promise<object|null>} fx.ensureConversation
 * @param {(id: number) => void} fx.markRead
 * @param {(conv: object) => void} fx.notifyAssigned
 */
export function eventApplier({ schedule, refreshCounts, ensureConversation, markRead, notifyAssigned }) {
  // `replayed`: sent by a resume (what happened while the socket was away, or before it first
  // connected): it updates the state but raises no notice; notices are for what happens now.
  function applyEvent(ev, { replayed = false } = {}) {
    if (ev.id != null && !firstSight(ev.id)) return;
    const cid = ev.conversation_id;
    const data = ev.data || {};
    switch (ev.type) {
      case EVENT.CONVERSATION_CREATED:
      case EVENT.CONVERSATION_UPDATED:
      case EVENT.CONVERSATION_STATUS_CHANGED: {
        const before = state.convs.get(data.id || cid);
        const conv = upsertConversation({ id: cid, ...data });
        if (before || ev.type === EVENT.CONVERSATION_CREATED) adjustCounts(before || null, conv);
        const wasMine = before && before.assignee && before.assignee.id === state.me.id;
        if (!replayed && ev.type === EVENT.CONVERSATION_CREATED && !wasMine && conv && conv.assignee && conv.assignee.id === state.me.id) notifyAssigned(conv);
        if (before && before.contact && conv && conv.contact) invalidateContact(conv.contact.id);
        schedule("list", "thread", "counts");
        refreshCounts();
        break;
      }
      case EVENT.ASSIGNEE_CHANGED: {
        const conv = state.convs.get(cid);
        const was = conv && conv.assignee ? conv.assignee.id : null;
        if (conv) {
          const before = { ...conv };
          conv.assignee = data.assignee || null;
          rememberUser(conv.assignee);
          adjustCounts(before, conv);
          if (!replayed && conv.assignee && conv.assignee.id === state.me.id && was !== state.me.id) notifyAssigned(conv);
        } else {
          // Unknown here (not in a loaded list): the refetched counts account for it.
          ensureConversation(cid).then((c) => {
            if (!replayed && c && c.assignee && c.assignee.id === state.me.id) notifyAssigned(c);
          });
        }
        schedule("list", "thread", "counts");
        refreshCounts();
        break;
      }
      case EVENT.MESSAGE_CREATED:
      case EVENT.MESSAGE_UPDATED:
        onMessage(ev.type, cid ?? data.conversation_id, data);
        break;
      case EVENT.FIRST_REPLY_CREATED:
      case EVENT.REPLY_CREATED: {
        const conv = state.convs.get(cid);
        if (conv) { conv.waiting_since = null; schedule("list"); }
        break;
      }
      case EVENT.CONVERSATION_READ: {
        const conv = state.convs.get(cid);
        if (conv) {
          if (data.side === "agent") { conv.unread_count = 0; conv.agent_last_seen_at = data.last_seen_at; }
          else { conv.contact_last_seen_at = data.last_seen_at; }
          schedule("list", "messages");
        }
        break;
      }
      case EVENT.PRESENCE_UPDATED:
        if (data.user_id != null) {
          state.presence.set(data.user_id, data.status);
          if (data.user_id === state.me.id && data.status) state.me.availability = data.status;
          schedule("list", "thread", "me");
        }
        break;
      case EPHEMERAL.TYPING_STARTED:
      case EPHEMERAL.TYPING_STOPPED:
        applyTypingFrame(ev.type, cid, data, schedule);
        break;
      default:
        break;
    }
  }

  function onMessage(type, cid, message) {
    const t = state.threads.get(cid);
    const isNew = t ? t.add(message) : true;
    const conv = state.convs.get(cid);
    if (!conv) {
      ensureConversation(cid);
      return;
    }
    // A snapshot row already counts messages up to its last_message: a replayed event for one
    // of those (the thread not loaded, so no id to dedupe on) must not count twice.
    const known = conv.last_message && conv.last_message.id != null && message.id <= conv.last_message.id;
    if (type === EVENT.MESSAGE_CREATED) messageEndsTyping(cid, message);
    if (type === EVENT.MESSAGE_UPDATED && conv.last_message && conv.last_message.id === message.id) {
      conv.last_message = { ...conv.last_message, content: message.content, deleted: isDeleted(message) };
    }
    if (type === EVENT.MESSAGE_CREATED && isNew && !known) {
      if (message.direction !== "activity") conv.last_message = message;
      if (message.created_at && (!conv.last_activity_at || message.created_at > conv.last_activity_at)) {
        conv.last_activity_at = message.created_at;
      }
      if (message.direction === "incoming") {
        state.typing.delete(cid);
        if (!conv.waiting_since) conv.waiting_since = message.created_at;
        if (isViewing(cid)) markRead(cid);
        else conv.unread_count = (conv.unread_count || 0) + 1;
      } else if (message.direction === "outgoing" && !message.private) {
        conv.waiting_since = null;
      }
    }
    schedule("list", "messages", "typing");
  }

  function isViewing(cid) {
    return state.selectedId === cid && document.visibilityState === "visible";
  }

  return { applyEvent, onMessage };
}
