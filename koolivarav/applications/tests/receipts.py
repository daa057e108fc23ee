"""Following the receipt's link as the applicant would: the status page and its button."""

from django.test import Client
from django.urls import reverse

from koolivarav.applications.models import Application
from koolivarav.applications.services import status_token

STATUS = reverse("applications:status")


def confirm_address_of(application: Application, client: Client) -> None:
    """Press "Yes, this is my e-mail address" on the application's status page."""
    response = client.post(STATUS, {"t": status_token(application)})
    assert response.status_code == 302, response.status_code
