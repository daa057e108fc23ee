import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template.loader import render_to_string
from django.views.decorators.csrf import requires_csrf_token


def health(request: HttpRequest) -> HttpResponse:
    """For load balancers and monitoring: the process answers and knows the school."""
    return HttpResponse("ok\n", content_type="text/plain")


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """The error page. When the database failed (stopped, connection dropped), say that the
    service is briefly unavailable (503, try again; sending a form twice is harmless) rather
    than that something broke. Either page needs nothing from the database and shows no
    traceback; the error itself goes to the log (django.request). Both show the request's id
    (koolivarav.operations.middleware), which a parent can quote and the log lines carry."""
    error = sys.exc_info()[1]
    context = {"request_id": getattr(request, "id", "")}
    if isinstance(error, (OperationalError, InterfaceError)):
        response = HttpResponse(render_to_string("503.html", context), status=503)
        response["Retry-After"] = "30"
        return response
    return HttpResponseServerError(render_to_string("500.html", context))
