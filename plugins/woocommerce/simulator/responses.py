"""Response helpers: WordPress's headers and the HTML bodies of host-level failures."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .util import rest_json

JSON_TYPE = "application/json; charset=UTF-8"

MAINTENANCE_HTML = (
    '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<meta charset="utf-8">\n'
    "<title>Maintenance</title>\n</head>\n<body>\n"
    "<h1>Briefly unavailable for scheduled maintenance. Check back in a minute.</h1>\n"
    "</body>\n</html>\n"
)
NOT_FOUND_HTML = (
    "<!DOCTYPE html>\n<html><head><title>Page not found</title></head>\n"
    "<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n"
)
PROXY_HTML = {
    429: "<html><head><title>429 Too Many Requests</title></head><body><center>"
    "<h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>\n",
    502: "<html><head><title>502 Bad Gateway</title></head><body><center>"
    "<h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n",
    503: "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
    "<h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>\n",
    504: "<html><head><title>504 Gateway Time-out</title></head><body><center>"
    "<h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>\n",
}
# What WordPress answers on the REST API when PHP dies (the "critical error" handler).
CRITICAL_ERROR = {
    "code": "internal_server_error",
    "message": "<p>There has been a critical error on this website.</p><p><a "
    'href="https://wordpress.org/documentation/article/faq-troubleshooting/">Learn more about '
    "troubleshooting WordPress.</a></p>",
    "data": {"status": 500},
    "additional_errors": [],
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(rest_json(body), status_code=status, headers=headers, media_type=JSON_TYPE)


def html_response(body: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body, status_code=status, headers=headers, media_type="text/html; charset=UTF-8"
    )


def fault_response(status: int, retry_after: int | None, base_url: str) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if status == 500:
        headers["Link"] = f'<{base_url}/wp-json/>; rel="https://api.w.org/"'
        return json_response(CRITICAL_ERROR, 500, headers)
    return html_response(PROXY_HTML.get(status, PROXY_HTML[503]), status, headers)
