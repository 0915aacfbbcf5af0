"""The inspector's web view (issue 9): server-rendered pages under /ui/ over the API's
read models, roles and scopes. `create_app` includes `router`; docs/web.md describes it."""

from api.web.routes import router

__all__ = ["router"]
