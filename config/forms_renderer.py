"""Django's form renderer, with the plain <input> elements written without the template engine.

A quarter of the profile page's time went into five <input> elements: each widget's template
includes `input.html`, which includes `attrs.html`, three template renders for one line of HTML.
For a widget whose template is exactly Django's one-line include of `input.html` (text, e-mail,
password, hidden, number, …), this renderer writes the element itself, character for character
as those templates do (koolivarav/tests/test_forms_renderer.py compares the two on every form of
the product). Any other template — a select, a textarea, a form layout, or any of these templates
overridden by an app — goes through the engine as before.
"""

from typing import Any

from django.forms.renderers import DjangoTemplates
from django.template import TemplateDoesNotExist
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData

INPUT = "django/forms/widgets/input.html"
ATTRS = "django/forms/widgets/attrs.html"
# The sources this renderer stands in for (Django 4.0 to 5.2).
INCLUDES_INPUT = '{% include "django/forms/widgets/input.html" %}\n'
INPUT_SOURCE = (
    '<input type="{{ widget.type }}" name="{{ widget.name }}"{% if widget.value != None %}'
    " value=\"{{ widget.value|stringformat:'s' }}\"{% endif %}"
    '{% include "django/forms/widgets/attrs.html" %}>\n'
)
ATTRS_SOURCE = (
    "{% for name, value in widget.attrs.items %}{% if value is not False %} {{ name }}"
    "{% if value is not True %}=\"{{ value|stringformat:'s' }}\"{% endif %}{% endif %}"
    "{% endfor %}"
)


class FormRenderer(DjangoTemplates):
    def __init__(self) -> None:
        super().__init__()
        self._direct: dict[str, bool] = {}

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if self._writes_input(template_name):
            return input_element(context["widget"])
        return super().render(template_name, context, request)

    def _writes_input(self, template_name: str) -> bool:
        direct = self._direct.get(template_name)
        if direct is None:
            direct = self._direct[template_name] = (
                self._source(template_name) in (INCLUDES_INPUT, INPUT_SOURCE)
                and self._source(INPUT) == INPUT_SOURCE
                and self._source(ATTRS) == ATTRS_SOURCE
            )
        return direct

    def _source(self, template_name: str) -> str | None:
        try:
            return self.get_template(template_name).template.source  # type: ignore[no-any-return]
        except (TemplateDoesNotExist, AttributeError):  # any doubt: leave it to the engine
            return None


def _formatted(value: Any) -> str:
    """`{{ value|stringformat:'s' }}` with autoescaping, as the template engine writes it."""
    if isinstance(value, tuple):
        value = str(value)
    try:
        text = "%s" % value  # noqa: UP031 - the filter's own formatting
    except (ValueError, TypeError):
        text = ""
    if isinstance(value, SafeData):  # the filter is is_safe: safe input stays as it is
        return text
    return str(escape(text))


def input_element(widget: dict[str, Any]) -> str:
    """What input.html (with attrs.html) renders for this widget context."""
    parts = [
        f'<input type="{conditional_escape(widget["type"])}"'
        f' name="{conditional_escape(widget["name"])}"'
    ]
    if widget["value"] != None:  # noqa: E711 - the template's own comparison
        parts.append(f' value="{_formatted(widget["value"])}"')
    for name, value in widget["attrs"].items():
        if value is not False:
            parts.append(f" {conditional_escape(name)}")
            if value is not True:
                parts.append(f'="{_formatted(value)}"')
    parts.append(">")
    return "".join(parts)
