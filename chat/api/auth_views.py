"""Login, logout and the caller's profile."""
from __future__ import annotations

from django.contrib.auth import login, logout
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.api import serializers as s
from chat.api.security import IsOperator, LoginThrottle
from chat.errors import NotAuthenticated
from chat.i18n import active_language, language_cookie
from chat.payloads import user_summary
from chat.selectors.scope import operator_get, operator_member_inbox_ids, operator_profile, operator_role
from chat.services.agents import (
    agent_update,
    operator_authenticate,
    operator_locale_on_login,
    operator_logout,
    operator_set_locale,
    operator_token,
)
from presence.hooks import operator_set_availability

ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer, 429: s.ErrorSerializer}


class LoginView(APIView):
    authentication_classes: list = []  # no session yet, so no CSRF check either
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=s.LoginInput, responses={200: s.LoginOutput, **ERRORS}, tags=["auth"],
        summary="Log in with username (or email) and password: an API token and a session cookie",
    )
    def post(self, request: Request) -> Response:
        data = s.validated(s.LoginInput, request.data)
        identity = (data.get("username") or data.get("email") or "").strip()
        user = operator_authenticate(identity=identity, password=data["password"]) if identity else None
        if user is None or not user.is_active:
            raise NotAuthenticated(_("Wrong username or password."))
        login(request._request, user)
        language = operator_locale_on_login(user=user, accept_language=request.META.get("HTTP_ACCEPT_LANGUAGE"))
        response = Response({"token": operator_token(user=user),
                             "user": {"id": user.pk, "username": user.get_username(), "role": operator_role(user)}})
        return language_cookie(response, language)


class LogoutView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses={204: None, 401: s.ErrorSerializer, 403: s.ErrorSerializer},
                   tags=["auth"], summary="End the session; a token-authenticated call also revokes that token")
    def post(self, request: Request) -> Response:
        # Only the credential of this call: a token call revokes the token, a session call
        # ends the session; sockets opened with it close (4401), other sessions stay.
        token_key = request.auth.key if isinstance(request.auth, Token) else None
        session_key = None if token_key else request.session.session_key
        assert request.user.is_authenticated  # IsOperator
        user_id = request.user.pk
        logout(request._request)
        operator_logout(user_id=user_id, token_key=token_key, session_key=session_key)
        return Response(status=204)


def profile_body(user) -> dict:
    profile = operator_profile(user)
    return {
        "id": user.pk,
        "username": user.get_username(),
        "email": user.email,
        "display_name": profile.display_name,
        "name": (user_summary(user) or {}).get("name", ""),
        "role": operator_role(user),
        "availability": profile.availability,
        "inbox_ids": operator_member_inbox_ids(user_id=user.pk),
        # The language this caller reads now: the profile's, else the browser's (chat.i18n).
        "locale": active_language(),
    }


class ProfileView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: s.ProfileSerializer, 401: s.ErrorSerializer}, tags=["auth"],
                   summary="The caller's profile")
    def get(self, request: Request) -> Response:
        return Response(profile_body(request.user))

    @extend_schema(request=s.ProfileUpdateInput, responses={200: s.ProfileSerializer, **ERRORS}, tags=["auth"],
                   summary="Change display name, availability (online, busy, offline) or language (en, ru)")
    def patch(self, request: Request) -> Response:
        data = s.validated(s.ProfileUpdateInput, request.data, partial=True)
        user = request.user
        assert user.is_authenticated  # IsOperator
        if "display_name" in data:
            agent_update(user=user, name=data["display_name"])
        if "locale" in data:
            # From now on this request, and the pages the session opens, speak it.
            translation.activate(operator_set_locale(user=user, locale=data["locale"]))
        if "availability" in data:
            operator_set_availability(user_id=user.pk, availability=data["availability"])
        response = Response(profile_body(operator_get(user_id=user.pk)))
        return language_cookie(response, translation.get_language()) if "locale" in data else response
