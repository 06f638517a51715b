// Activity line kinds, spelled once for the browser (plain ES module, no build step). Mirrors
// chat/activity.py's ActivityKind; tests/test_i18n_server.py keeps them equal. An activity
// message carries content_attributes.activity = {kind, actor, assignee, ...}; i18n.js's
// renderActivity() renders it in the reader's language (the server's render_activity() does
// the same for REST and transcripts).
export const ACTIVITY_KIND = Object.freeze({
  REOPENED: "reopened",
  RESOLVED: "resolved",
  PENDING: "pending",
  SNOOZED: "snoozed",
  SNOOZED_UNTIL_REPLY: "snoozed_until_reply",
  SNOOZE_ENDED: "snooze_ended",
  PRIORITY_CHANGED: "priority_changed",
  ASSIGNED: "assigned",
  AUTO_ASSIGNED: "auto_assigned",
  UNASSIGNED: "unassigned",
  RELEASED_DEACTIVATED: "released_deactivated",
  RELEASED_REMOVED: "released_removed",
  RELEASED_OFFLINE: "released_offline",
  RELEASED_NOT_MEMBER: "released_not_member",
  ESCALATED: "escalated",
  ESCALATED_ASSIGNED: "escalated_assigned",
  ESCALATED_NO_SUPERVISOR: "escalated_no_supervisor",
  ACCEPTED_OFFER: "accepted_offer",
  LABELS_CHANGED: "labels_changed",
});
