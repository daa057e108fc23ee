"""The parent's applications on the home page (accounts' template), without accounts
importing applications: the home page loads this tag library instead."""

from typing import Any

from django import template

from koolivarav.schools.models import IdentityMethod

from ..selectors import application_statuses_of_parent

register = template.Library()


@register.inclusion_tag("applications/_my_applications.html", takes_context=True)
def my_applications(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None:
        return {"statuses": []}
    return {"statuses": application_statuses_of_parent(user=user)}


@register.filter
def identity_method(value: str) -> str:
    """ "smartid" → "Smart-ID": how a parent proved their identity, in words."""
    return str(IdentityMethod(value).label) if value in IdentityMethod.values else ""
