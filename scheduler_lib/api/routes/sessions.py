"""POST /login, /refresh/token, /logout (each writes its own audit entries: a failed
login and a detected token reuse are recorded although the request fails)."""

from __future__ import annotations

from ...services import sessions
from .. import schemas
from ..routing import Call, Reply, Route
from ..schemas import named
from ..validation import obj

_REFRESH_BODY = named("RefreshToken", obj({"refresh_token": {"type": "string", "minLength": 1}},
                                          ("refresh_token",)))


def login(call: Call) -> Reply:
    pair = sessions.login(call.ctx, call.body["identifier"], call.body["password"],
                          call.actor())
    return Reply("Login success!", pair)


def refresh(call: Call) -> Reply:
    return Reply("Refresh success!", sessions.refresh(call.ctx, call.body["refresh_token"],
                                                        call.actor()))


def logout(call: Call) -> Reply:
    claims = call.identity.claims if call.identity else None
    sessions.logout(call.ctx, call.actor(), call.user, call.body["refresh_token"], claims)
    return Reply("Logout successful!")


ROUTES = [
    Route("POST", "/login", login, "Log in with username or e-mail and password",
          auth="none", tag="auth", data=schemas.TOKEN_PAIR, errors=(400, 401, 429),
          no_store=True,
          body=named("Credentials",
                     obj({"identifier": {"type": "string", "minLength": 1, "maxLength": 254},
                          "password": {"type": "string", "minLength": 1, "maxLength": 1024}},
                         ("identifier", "password"))), operation_id="login", audited=False),
    Route("POST", "/refresh/token", refresh, "Exchange a refresh token for a new pair",
          auth="none", tag="auth", body=_REFRESH_BODY, data=schemas.TOKEN_PAIR,
          errors=(400, 401), no_store=True, operation_id="refreshToken", audited=False),
    Route("POST", "/logout", logout, "Revoke the refresh token and this access token",
          tag="auth", body=_REFRESH_BODY, errors=(400, 401), no_store=True,
          operation_id="logout", audited=False),
]
