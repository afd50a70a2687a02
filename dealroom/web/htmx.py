"""htmx request and response headers, in one place."""

from starlette.requests import Request
from starlette.responses import Response


def is_htmx(request: Request) -> bool:
    # History restores want the full page, like a normal navigation.
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def target(request: Request) -> str:
    return request.headers.get("HX-Target", "")


def redirect(response: Response, url: str) -> Response:
    """Tell htmx to navigate (a plain 303 would be followed by XHR and swapped in place)."""
    response.headers["HX-Redirect"] = url
    return response
