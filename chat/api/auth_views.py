"""Login, logout and the caller's profile."""
from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model, login, logout
from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.api import serializers as s
from chat.api.security import IsOperator, LoginThrottle
from chat.errors import NotAuthenticated
from chat.models import InboxMember
from chat.payloads import user_summary
from chat.selectors.scope import operator_profile, operator_role
from chat.services.agents import agent_update
from presence.hooks import operator_set_availability

User = get_user_model()
ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer, 429: s.ErrorSerializer}


def _find_user(identity: str, password: str):
    user = authenticate(username=identity, password=password)
    if user is None and "@" in identity:
        match = User.objects.filter(email__iexact=identity).order_by("id").first()
        if match is not None:
            user = authenticate(username=match.get_username(), password=password)
    return user


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
        user = _find_user(identity, data["password"]) if identity else None
        if user is None or not user.is_active:
            raise NotAuthenticated("Wrong username or password.")
        login(request._request, user)
        operator_profile(user)  # made on demand for users created outside the API
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key, "user": {"id": user.pk, "username": user.get_username(),
                                                        "role": operator_role(user)}})


class LogoutView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses={204: None, 401: s.ErrorSerializer, 403: s.ErrorSerializer},
                   tags=["auth"], summary="End the session; a token-authenticated call also revokes that token")
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, Token):
            request.auth.delete()
        logout(request._request)
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
        "inbox_ids": sorted(InboxMember.objects.filter(user=user).values_list("inbox_id", flat=True)),
    }


class ProfileView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: s.ProfileSerializer, 401: s.ErrorSerializer}, tags=["auth"],
                   summary="The caller's profile")
    def get(self, request: Request) -> Response:
        return Response(profile_body(request.user))

    @extend_schema(request=s.ProfileUpdateInput, responses={200: s.ProfileSerializer, **ERRORS}, tags=["auth"],
                   summary="Change display name or availability (online, busy, offline)")
    def patch(self, request: Request) -> Response:
        data = s.validated(s.ProfileUpdateInput, request.data, partial=True)
        user = request.user
        if "display_name" in data:
            agent_update(user=user, name=data["display_name"])
        if "availability" in data:
            operator_set_availability(user_id=user.pk, availability=data["availability"])
        user._profile_cache = None
        user.refresh_from_db()
        if hasattr(user, "_state") and "operator_profile" in user._state.fields_cache:
            del user._state.fields_cache["operator_profile"]
        return Response(profile_body(user))
