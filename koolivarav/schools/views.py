from django.http import HttpRequest, HttpResponse


def health(request: HttpRequest) -> HttpResponse:
    """For load balancers and monitoring: the process answers and knows the school."""
    return HttpResponse("ok\n", content_type="text/plain")
