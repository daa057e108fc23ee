"""`{% counted cl.opts cl.result_count %}`: "3 taotlust", for the admin's templates."""

from typing import Any

from django import template

from ..counted import counted as counted_words

register = template.Library()


@register.simple_tag
def counted(model: Any, count: int) -> str:
    return counted_words(model, int(count or 0))
