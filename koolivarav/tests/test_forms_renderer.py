"""The form renderer that writes plain <input> elements itself (config/forms_renderer.py) writes
exactly what Django's templates write."""

import re

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.test import Client
from django.urls import reverse
from django.utils.safestring import mark_safe

from config.forms_renderer import FormRenderer
from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.conftest import host_of
from koolivarav.schools.pagecache import forget_pages

DJANGO = "django.forms.renderers.DjangoTemplates"
OURS = "config.forms_renderer.FormRenderer"


class Everything(forms.Form):
    text = forms.CharField(max_length=20, help_text="x", widget=forms.TextInput(attrs={"a": True}))
    email = forms.EmailField(required=False, widget=forms.EmailInput(attrs={"off": False}))
    secret = forms.CharField(widget=forms.PasswordInput(render_value=True))
    number = forms.IntegerField(min_value=0)
    hidden = forms.CharField(widget=forms.HiddenInput, initial=mark_safe("<b>safe</b>"))
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    choice = forms.ChoiceField(choices=[("a", "A & B")])  # a select: left to the engine
    notes = forms.CharField(widget=forms.Textarea, required=False)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"text": 'Mari "<Õunapuu>" & co', "email": "x", "secret": "a'b", "number": "-1"},
        {"text": "x" * 30, "number": "0", "day": "2026-09-01", "choice": "zz", "notes": "<p>"},
    ],
)
def test_every_input_widget_is_written_as_djangos_templates_write_it(data):
    ours = Everything(data, renderer=FormRenderer())
    djangos = Everything(data, renderer=DjangoTemplates())
    for name in Everything.base_fields:
        assert str(ours[name]) == str(djangos[name]), name
    assert ours.as_div() == djangos.as_div()


def test_only_the_plain_inputs_skip_the_engine():
    renderer = FormRenderer()
    assert renderer._writes_input("django/forms/widgets/text.html")
    assert renderer._writes_input("django/forms/widgets/password.html")
    assert not renderer._writes_input("django/forms/widgets/select.html")
    assert not renderer._writes_input("django/forms/div.html")


def _normalised(page: str) -> str:
    # Every response has a fresh CSRF token and request id.
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "csrf", page)
    return re.sub(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", "id", page)


def _both(settings, fetch) -> tuple[str, str]:
    pages = []
    for renderer in (DJANGO, OURS):
        settings.FORM_RENDERER = renderer
        forget_pages()
        pages.append(_normalised(fetch().content.decode()))
    return pages[0], pages[1]


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/", None),
        ("/", {"username": "nobody", "password": "wrong-password"}),
        (reverse("applications:start"), None),
        (reverse("applications:start"), {"parent_id_code": "123", "email": "a@b"}),
        (reverse("accounts:password_reset"), None),
    ],
)
def test_public_pages_are_the_same_with_either_renderer(settings, school, path, form):
    client = Client(HTTP_HOST=host_of(school))
    fetch = (lambda: client.get(path)) if form is None else (lambda: client.post(path, form))
    djangos, ours = _both(settings, fetch)
    assert "<input" in ours
    assert ours == djangos


def test_the_profile_is_the_same_with_either_renderer(settings, school, parent):
    client = Client(HTTP_HOST=host_of(school))
    client.force_login(parent)
    profile = reverse("accounts:profile")
    for fetch in (
        lambda: client.get(profile),
        lambda: client.post(profile, {"phone": "x" * 40, "password1": "a", "password2": "b"}),
    ):
        djangos, ours = _both(settings, fetch)
        assert ours == djangos


@pytest.mark.parametrize(
    "name",
    [
        "admin:accounts_user_add",
        "admin:schools_student_add",
        "admin:applications_application_changelist",
        "admin:accounts_user_changelist",
    ],
)
def test_admin_pages_are_the_same_with_either_renderer(settings, school, school_admin, name):
    client = log_in_as_administrator(Client(HTTP_HOST=host_of(school)), school_admin)
    djangos, ours = _both(settings, lambda: client.get(reverse(name)))
    assert ours == djangos
