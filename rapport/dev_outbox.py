"""GET /dev/outbox/latest?email=ADDRESS: the latest sign-up code queued for an address, so
that a web client in development (examples/web) can finish a sign-up without a mailbox.

Development only: app.py adds the route when RAPPORT_ENV=development and never otherwise
(test and production answer 404, as for any unknown path). Even then it answers only
clients on this machine (a loopback address), because development is also the default
environment: a server started without RAPPORT_ENV on a public address must not hand out
sign-up codes to anyone who asks. Reads the outbox (`outbound_emails`) as `rapport mail show`
does; nothing is marked or removed."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rapport.mail import latest_body
from rapport.resources import Resources
from resolvers.accounts import code_in_email

PATH = "/dev/outbox/latest"


def _from_this_machine(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:  # not an IP address (a Unix socket, a test client's name)
        return False


async def latest_code(request: Request) -> Response:
    if not _from_this_machine(request):
        return JSONResponse({"error": "Not Found"}, 404)
    email = request.query_params.get("email", "").strip()
    if not email:
        return JSONResponse({"error": "give ?email=ADDRESS"}, 400)
    resources: Resources = request.app.state.resources
    code = code_in_email(await latest_body(resources.raw_pool, email))
    if code is None:  # no email yet, or the "you already have an account" note
        return JSONResponse({"error": f"no sign-up code in the outbox for {email}"}, 404)
    return JSONResponse({"email": email.lower(), "code": code})


def routes() -> list[Route]:
    return [Route(PATH, latest_code, methods=["GET"])]
