"""`{% school_figures request.school as figures %}`: what waits for the school, for the
admin's index (koolivarav/templates/admin/index.html). A tag of this app, which may read every
other, so that the admin site (accounts) imports neither applications nor notifications."""

from django import template
from django.utils import formats

from koolivarav.schools.models import School

from ..selectors import SchoolFigures
from ..selectors import school_figures as figures_of

register = template.Library()


@register.simple_tag
def school_figures(school: School | None) -> SchoolFigures | None:
    return figures_of(school) if school is not None else None


@register.filter
def capped(count: int, cap: int) -> str:
    """12345 → "10 000+" past the cap; otherwise the number as the language writes it."""
    if count > cap:
        return f"{formats.number_format(cap, force_grouping=True)}+"
    return str(formats.number_format(count, force_grouping=True))
