from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.utils.translation import gettext as _

from .selectors import school_for_host


class CurrentSchoolMiddleware:
    """Sets request.school from the host name; a host no school answers on gets a 404 page.

    Runs after LocaleMiddleware so that the 404 page speaks the visitor's language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        domain, _port = split_domain_port(request.get_host())
        school = school_for_host(host=domain)
        if school is None:
            raise Http404(_("There is no school at this address."))
        request.school = school  # type: ignore[attr-defined]
        return self.get_response(request)
