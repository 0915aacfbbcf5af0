"""Who is looking at a page: the API's bearer token, kept in a cookie.

The token a user pastes on the login page is verified with the API's own
`TokenService.verify` and kept as it is in an HttpOnly, SameSite=Strict cookie scoped to
`/ui/`: script cannot read it, other sites cannot send it, and the API routes (which want
an `Authorization` header) never see it. Every page verifies it again, so an expired or
re-keyed token ends the session; the pages then apply the API's roles and read scopes
(`api.routes.common.Reader`) to the token's principal, exactly as the API does.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import Request
from starlette.responses import Response

from api.auth import Principal
from api.errors import Unauthenticated

TOKEN_COOKIE = "kinerja_ui_token"
LANG_COOKIE = "kinerja_ui_lang"
COOKIE_PATH = "/ui"
LOGIN_PATH = "/ui/login"
HOME_PATH = "/ui/"
#: A pasted token longer than this is not one of ours (HS256 JWTs are a few hundred bytes).
MAX_TOKEN_LENGTH = 4096


class LoginRequired(Exception):
    """No usable token: the page answers with a redirect to the login page."""

    def __init__(self, next_path: str, *, expired: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired

    def location(self) -> str:
        location = f"{LOGIN_PATH}?next={quote(self.next_path, safe='/')}"
        return location + ("&expired=1" if self.expired else "")


def principal_of(request: Request) -> Principal:
    """The principal of the request's cookie, verified now; LoginRequired if none."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise LoginRequired(here)
    try:
        return request.app.state.kinerja.tokens.verify(token)
    except Unauthenticated:
        raise LoginRequired(here, expired=True) from None


def verify_pasted(request: Request, token: str) -> Principal:
    """The principal of a pasted token (Unauthenticated if it is not valid)."""
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("paste the whole token")
    return request.app.state.kinerja.tokens.verify(token)


def keep_token(response: Response, request: Request, token: str) -> None:
    response.set_cookie(TOKEN_COOKIE, token.strip(), path=COOKIE_PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def forget_token(response: Response, request: Request) -> None:
    response.delete_cookie(TOKEN_COOKIE, path=COOKIE_PATH, httponly=True,
                           samesite="strict", secure=request.url.scheme == "https")


def keep_language(response: Response, request: Request, lang: str) -> None:
    response.set_cookie(LANG_COOKIE, lang, path=COOKIE_PATH, samesite="strict",
                        max_age=365 * 24 * 3600, secure=request.url.scheme == "https")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of these pages only (no open redirect)."""
    if not target:
        return HOME_PATH
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not parts.path.startswith("/ui/")
            or target.startswith("//") or "\\" in target
            or parts.path.startswith(LOGIN_PATH)):
        return HOME_PATH
    return target


def same_origin(request: Request) -> bool:
    """A form POST must come from these pages: its Origin (or, without one, its Referer)
    names this host. SameSite=Strict already keeps the cookie off cross-site requests;
    this also refuses a cross-site login with someone else's token."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed:
        return True  # not a browser (curl, tests): nothing to forge against
    parts = urlsplit(claimed)
    host = request.headers.get("host", "")
    return parts.netloc == host and parts.scheme in ("http", "https")
