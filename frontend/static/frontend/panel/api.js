// REST calls of the operator panel (DESIGN.md §8), session-authenticated with the CSRF header.
import { t } from "../shared/i18n.js";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || (status === 0 ? t("common.not_connected") : `HTTP ${status}`));
    this.status = status;
    this.code = err.code || (status === 0 ? "offline" : "error");
    this.fields = err.fields;
  }
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body instanceof FormData) {
    init.body = body; // the browser sets the multipart boundary
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET") headers["X-CSRFToken"] = csrf();
  let response;
  try {
    response = await fetch(path, init);
  } catch (_) {
    throw new ApiError(0, null);
  }
  if (response.status === 401 || response.status === 403) {
    if (response.status === 401) location.assign(`/login/?next=${encodeURIComponent(location.pathname)}`);
  }
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const qs = (params) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
};

export const api = {
  profile: () => request("GET", "/api/v1/profile"),
  setProfile: (body) => request("PATCH", "/api/v1/profile", body),
  conversations: ({ status, assignee, inbox, q, label, cursor }) =>
    cursor ? request("GET", cursor) : request("GET", `/api/v1/conversations/${qs({ status, assignee, inbox, q, label })}`),
  meta: ({ status, inbox, q, label }) => request("GET", `/api/v1/conversations/meta/${qs({ status, inbox, q, label })}`),
  searchMessages: ({ q, cursor }) =>
    cursor ? request("GET", cursor) : request("GET", `/api/v1/search/messages${qs({ q })}`),
  conversation: (id) => request("GET", `/api/v1/conversations/${id}/`),
  messages: (id, before) => request("GET", `/api/v1/conversations/${id}/messages/${qs({ before })}`),
  sendMessage: (id, body) => request("POST", `/api/v1/conversations/${id}/messages/`, body),
  sendMessageWithFiles: (id, { content, private: isPrivate, echo_id }, files) => {
    const form = new FormData();
    form.append("content", content || "");
    form.append("private", isPrivate ? "true" : "false");
    form.append("echo_id", echo_id);
    for (const file of files) form.append("attachments", file, file.name);
    return request("POST", `/api/v1/conversations/${id}/messages/`, form);
  },
  deleteMessage: (id, messageId) => request("DELETE", `/api/v1/conversations/${id}/messages/${messageId}/`),
  assign: (id, assignee_id) => request("POST", `/api/v1/conversations/${id}/assign`, { assignee_id }),
  setStatus: (id, status, snoozed_until) =>
    request("POST", `/api/v1/conversations/${id}/toggle_status`, { status, snoozed_until }),
  setPriority: (id, priority) => request("POST", `/api/v1/conversations/${id}/toggle_priority`, { priority }),
  escalate: (id) => request("POST", `/api/v1/conversations/${id}/escalate`, {}),
  read: (id) => request("POST", `/api/v1/conversations/${id}/read`, {}),
  contact: (id) => request("GET", `/api/v1/contacts/${id}/`),
  contactConversations: (id) => request("GET", `/api/v1/contacts/${id}/conversations/`),
  block: (id) => request("POST", `/api/v1/contacts/${id}/block`, {}),
  unblock: (id) => request("POST", `/api/v1/contacts/${id}/unblock`, {}),
  offers: () => request("GET", "/api/v1/offers/"),
  acceptOffer: (id) => request("POST", `/api/v1/conversations/${id}/accept`, {}),
  declineOffer: (id) => request("POST", `/api/v1/conversations/${id}/decline`, {}),
  // Labels and canned responses (docs/desk.md)
  setLabels: (id, labels) => request("POST", `/api/v1/conversations/${id}/labels`, { labels }),
  labels: ({ q, limit, cursor } = {}) => cursor ? request("GET", cursor) : request("GET", `/api/v1/labels/${qs({ q, limit })}`),
  createLabel: (body) => request("POST", "/api/v1/labels/", body),
  updateLabel: (id, body) => request("PATCH", `/api/v1/labels/${id}/`, body),
  deleteLabel: (id) => request("DELETE", `/api/v1/labels/${id}/`),
  cannedResponses: ({ inbox, q, limit, cursor } = {}) =>
    cursor ? request("GET", cursor) : request("GET", `/api/v1/canned_responses/${qs({ inbox, q, limit })}`),
  createCannedResponse: (body) => request("POST", "/api/v1/canned_responses/", body),
  updateCannedResponse: (id, body) => request("PATCH", `/api/v1/canned_responses/${id}/`, body),
  deleteCannedResponse: (id) => request("DELETE", `/api/v1/canned_responses/${id}/`),
};
