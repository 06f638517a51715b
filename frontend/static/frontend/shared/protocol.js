// The wire protocol's names, spelled once for the browser (plain ES module, no build step).
// Mirrors chat/event_types.py, chat/realtime/codes.py and chat/errors.py; tests/realtime/test_protocol.py
// keeps them equal. Import these instead of writing a type, command or code as a literal.

// Durable events (they carry an id; replayed on resume).
export const EVENT = Object.freeze({
  CONVERSATION_CREATED: "conversation.created",
  CONVERSATION_UPDATED: "conversation.updated",
  CONVERSATION_STATUS_CHANGED: "conversation.status_changed",
  ASSIGNEE_CHANGED: "assignee.changed",
  MESSAGE_CREATED: "message.created",
  MESSAGE_UPDATED: "message.updated",
  FIRST_REPLY_CREATED: "first_reply.created",
  REPLY_CREATED: "reply.created",
  CONVERSATION_READ: "conversation.read",
  PRESENCE_UPDATED: "presence.updated",
  CONVERSATION_OFFERED: "conversation.offered",
  CONVERSATION_OFFER_WITHDRAWN: "conversation.offer_withdrawn",
});

// Ephemeral frames (no id, never replayed).
export const EPHEMERAL = Object.freeze({
  TYPING_STARTED: "conversation.typing_started",
  TYPING_STOPPED: "conversation.typing_stopped",
  QUEUE_UPDATED: "queue.updated",
});

// Commands a client sends ({type, ref, data}).
export const COMMAND = Object.freeze({
  AUTH: "auth",
  MESSAGE_CREATE: "message.create",
  TYPING_START: "typing.start",
  TYPING_STOP: "typing.stop",
  CONVERSATION_READ: "conversation.read",
  CONVERSATION_ASSIGN: "conversation.assign",
  CONVERSATION_ESCALATE: "conversation.escalate",
  CONVERSATION_STATUS: "conversation.status",
  CONVERSATION_PRIORITY: "conversation.priority",
  PRESENCE_SET: "presence.set",
  RESUME: "resume",
  PING: "ping",
  CONVERSATION_ACCEPT: "conversation.accept",
  CONVERSATION_DECLINE: "conversation.decline",
  CONVERSATION_LABELS: "conversation.labels",
  MESSAGE_DELETE: "message.delete",
  CSAT_SUBMIT: "csat.submit",
});

// The server's own frames.
export const FRAME = Object.freeze({
  REPLY: "reply",
  PONG: "pong",
});

// WebSocket close codes the server sends (docs/realtime.md).
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  MESSAGE_TOO_BIG: 4413,
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403,
  IDLE_TIMEOUT: 4408,
  TOO_SLOW: 4429,
  TOO_MANY_SOCKETS: 4429,
  UNAVAILABLE: 4503,
});

// Error codes of ok:false replies and REST errors.
export const ERROR = Object.freeze({
  INVALID_FRAME: "invalid_frame",
  UNKNOWN_COMMAND: "unknown_command",
  INVALID_DATA: "invalid_data",
  NOT_FOUND: "not_found",
  PERMISSION_DENIED: "permission_denied",
  NOT_AUTHENTICATED: "not_authenticated",
  FLOOD_LIMITED: "flood_limited",
  CONTENT_TOO_LONG: "content_too_long",
  TOO_MANY_ATTACHMENTS: "too_many_attachments",
  CONTACT_BLOCKED: "contact_blocked",
  RATE_LIMITED: "rate_limited",
  RESYNC_REQUIRED: "resync_required",
  CONFLICT: "conflict",
  INVALID_ATTACHMENT: "invalid_attachment",
  INTERNAL_ERROR: "internal_error",
  UNAVAILABLE: "unavailable",
});

// Server-sent events' names on the SSE stream (the default "message" plus every type).
export const SSE_EVENT_NAMES = Object.freeze(["message", ...Object.values(EVENT), ...Object.values(EPHEMERAL)]);
