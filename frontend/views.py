"""Pages of the operator panel and the visitor widget.

Thin views: they render templates, serve the widget loader and statics, and expose the few
public facts the widget needs before it has a visitor token (inbox name, greeting, whether an
operator is available). Everything else goes through the REST API and the sockets.
"""
from __future__ import annotations

import mimetypes
import posixpath
from pathlib import Path
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.utils.http import http_date
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe
from django.views.static import was_modified_since

from chat.i18n import language_cookie, normalize_language, visitor_language_asked
from chat.payloads import user_summary
from chat.selectors.inboxes import inbox_directory_for_operator, widget_inbox_first, widget_inbox_for_token
from chat.selectors.scope import caller_scope, operator_profile
from chat.services.agents import operator_locale_on_login, operator_logout
from chat.services.inbox_texts import inbox_text, inbox_texts
from presence.selectors import published_statuses, widget_availability

STATIC_DIR = Path(__file__).resolve().parent / "static"
LOADER_PATH = STATIC_DIR / "frontend" / "widget" / "loader.js"
PANEL_HOME = "/app/"


class LoginView(auth_views.LoginView):
    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return PANEL_HOME

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        language = operator_locale_on_login(user=form.get_user(),
                                            accept_language=self.request.META.get("HTTP_ACCEPT_LANGUAGE"))
        return language_cookie(response, language)


class LogoutView(auth_views.LogoutView):
    next_page = "/login/"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """End this session; the panel sockets opened with it close (4401), other sessions stay."""
        user_id = request.user.pk if request.user.is_authenticated else None
        session_key = request.session.session_key
        response = super().post(request, *args, **kwargs)
        if user_id is not None:
            operator_logout(user_id=user_id, session_key=session_key)
        return response


def panel_directory(user: Any) -> list[dict[str, Any]]:
    """The inboxes the operator works in, each with its members and their presence (the status
    last broadcast; ``presence.updated`` keeps it current in the page). Three queries."""
    directory = inbox_directory_for_operator(user=user)
    statuses = published_statuses(user_ids={m["id"] for inbox in directory for m in inbox["members"]})
    for inbox in directory:
        inbox["members"] = [{**member, "status": statuses[member["id"]]} for member in inbox["members"]]
    return directory


def page_language(request: HttpRequest, user: Any) -> str:
    """The language an operator's page speaks (chat.i18n): the profile's. A profile still
    without one (a session older than the choice, a login through the Django admin) gets the
    browser's now, exactly as the first login would have set it (only while it is empty)."""
    return operator_locale_on_login(user=user, accept_language=request.META.get("HTTP_ACCEPT_LANGUAGE"))


@login_required
@never_cache
def panel(request: HttpRequest) -> HttpResponse:
    """The operator panel: one page, the rest is ES modules talking to the API and socket."""
    user = request.user
    assert user.is_authenticated  # @login_required
    boot = {
        "user": {
            **(user_summary(user) or {}),
            "role": caller_scope(user).role,
            "availability": operator_profile(user).availability,
            "locale": page_language(request, user),
        },
        "inboxes": panel_directory(user),
    }
    return render(request, "frontend/panel.html", {"boot": boot})


@login_required
@never_cache
def settings_page(request: HttpRequest) -> HttpResponse:
    """Canned responses and labels (docs/desk.md): administrators manage them, others read.
    The page is a client of the REST API, which enforces who may write."""
    user = request.user
    assert user.is_authenticated  # @login_required
    scope = caller_scope(user)
    boot = {
        "user": {**(user_summary(user) or {}), "role": scope.role, "is_admin": scope.is_admin,
                 "locale": page_language(request, user)},
        "inboxes": [{"id": inbox["id"], "name": inbox["name"]} for inbox in inbox_directory_for_operator(user=user)],
    }
    return render(request, "frontend/settings.html", {"boot": boot})


@login_required
@never_cache
def reports_page(request: HttpRequest) -> HttpResponse:
    """The Reports page (docs/reports.md): charts and tables from /api/v1/reports/*, over the
    inboxes the operator sees (the API scopes every figure)."""
    user = request.user
    assert user.is_authenticated  # @login_required
    boot = {
        "user": {**(user_summary(user) or {}), "role": caller_scope(user).role, "locale": page_language(request, user)},
        "inboxes": [{"id": inbox["id"], "name": inbox["name"]} for inbox in inbox_directory_for_operator(user=user)],
    }
    return render(request, "frontend/reports.html", {"boot": boot})


def _file_response(request: HttpRequest, path: Path, content_type: str, max_age: int) -> HttpResponseBase:
    stat = path.stat()
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), stat.st_mtime):
        return HttpResponse(status=304)
    response = FileResponse(path.open("rb"), content_type=content_type)
    response["Last-Modified"] = http_date(stat.st_mtime)
    response["Content-Length"] = str(stat.st_size)
    response["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-cache"
    return response


@require_safe
def widget_loader(request: HttpRequest) -> HttpResponseBase:
    """``/widget.js``: the one script a business pastes into its site (kept tiny, cached briefly
    so that a fix reaches every site within minutes)."""
    response = _file_response(request, LOADER_PATH, "text/javascript; charset=utf-8", max_age=300)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def static_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """Serve app statics (``/static/...``) through the staticfiles finders, with DEBUG on or off.

    The product runs as a single ASGI process in embedded mode (``runserver``, daphne or
    uvicorn) with no front web server, so the app serves its own few files; ``runserver`` with
    DEBUG on intercepts ``/static/`` first with the same files. A CDN or reverse proxy in front
    may cache them (Last-Modified, revalidated on every use).
    """
    normalized = posixpath.normpath(path).lstrip("/")
    if normalized.startswith("..") or not normalized:
        raise Http404
    found = finders.find(normalized)
    if not found:
        raise Http404
    file_path = Path(found)
    if not file_path.is_file():
        raise Http404
    content_type, _ = mimetypes.guess_type(str(file_path))
    if file_path.suffix in (".js", ".mjs"):
        content_type = "text/javascript; charset=utf-8"
    # Unversioned file names: browsers revalidate every time (a cheap 304), so a deploy never
    # mixes old and new modules.
    return _file_response(request, file_path, content_type or "application/octet-stream", max_age=0)


def _inbox_for_token(token: str | None) -> Any:
    inbox = widget_inbox_for_token(website_token=token)
    if inbox is None:
        raise Http404
    return inbox


def _frame_ancestors(inbox: Any) -> str:
    origins = [o for o in (inbox.allowed_origins or []) if isinstance(o, str) and o.startswith(("http://", "https://"))]
    if not origins or "*" in (inbox.allowed_origins or []):
        return "*"
    return " ".join(["'self'", *origins])


@xframe_options_exempt
@require_safe
def widget_frame(request: HttpRequest) -> HttpResponse:
    """The widget's own page, loaded by ``widget.js`` in an iframe: its CSS and DOM are isolated
    from the host site. Only the inbox's allowed origins may frame it."""
    inbox = _inbox_for_token(request.GET.get("website_token"))
    transport = request.GET.get("transport", "auto")
    if transport not in ("auto", "ws", "sse", "poll"):
        transport = "auto"
    response = render(
        request,
        "frontend/widget_frame.html",
        {"boot": {"website_token": inbox.website_token, "transport": transport, "inbox_name": inbox.name,
                  # The embed's data-locale (loader.js passes it on), null: the frame decides.
                  "locale": normalize_language(request.GET.get("locale")),
                  # The inbox's default language: the frame's last choice before English.
                  "inbox_locale": inbox.locale or None}},
    )
    response["Content-Security-Policy"] = f"frame-ancestors {_frame_ancestors(inbox)}"
    return response


@require_safe
def widget_config(request: HttpRequest) -> JsonResponse:
    """Public facts about an inbox shown before the visitor writes: name, greeting, whether an
    operator is available right now, and the business hours' verdict (``online``: within hours
    and someone available; ``next_open_at`` while outside hours; the out-of-office text the
    widget shows instead of the greeting then, so the two never name different times).

    The texts are in the visitor's language (``?locale=``, else ``Accept-Language``; else the
    inbox's default: chat.services.inbox_texts); ``locale`` is the inbox's default language."""
    inbox = _inbox_for_token(request.GET.get("website_token"))
    availability = widget_availability(inbox=inbox)
    asked = visitor_language_asked(requested=request.GET.get("locale"),
                                   accept_language=request.META.get("HTTP_ACCEPT_LANGUAGE"))
    texts = inbox_texts(inbox, asked, built_in=False)
    response = JsonResponse(
        {
            "name": inbox.name,
            "locale": inbox.locale,
            "greeting": texts["greeting"],
            "operators_available": availability["operators_available"],
            "online": availability["online"],
            "next_open_at": availability["next_open_at"],
            "out_of_office_message": "" if availability["within_hours"] else texts["out_of_office_message"],
            # The survey card's question (the built-in one when the administrator wrote none).
            "csat_question": inbox_text(inbox, "csat_question", asked),
            # The composer sends its unsent text with typing.start (throttled) only when on.
            "sneak_peek": inbox.sneak_peek,
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def demo(request: HttpRequest) -> HttpResponse:
    """A stand-in for a business's website with the widget snippet pasted in."""
    token = request.GET.get("website_token")
    inbox = _inbox_for_token(token) if token else widget_inbox_first()
    transport = request.GET.get("transport", "")
    if transport not in ("", "ws", "sse", "poll"):
        transport = ""
    # ``?locale=ru`` puts data-locale="ru" in the snippet (the widget's language; the page's own
    # follows the browser).
    locale = normalize_language(request.GET.get("locale")) or ""
    return render(request, "frontend/demo.html", {"inbox": inbox, "transport": transport, "locale": locale})
