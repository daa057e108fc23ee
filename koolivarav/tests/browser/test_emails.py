"""Every e-mail's HTML part opened in Chromium, desktop and phone, as a mail client shows
it: axe and the Nu HTML Checker on each, and screenshots under test-results/."""

import pytest
from django.core import mail

from koolivarav.accounts.services import send_login_details
from koolivarav.accounts.tests.factories import UserFactory
from koolivarav.notifications.services import deliver_due_emails, queue_email
from koolivarav.schools.tests.factories import SchoolFactory
from koolivarav.tests.emails import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db]


def _html_part(message) -> str:
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    return html


@pytest.mark.parametrize("language", ["et", "en"])
def test_every_email_html_part(page, check, language, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    school = SchoolFactory()
    send_login_details(user=UserFactory(school=school, language=language))
    for template, context in sorted(SAMPLES.items()):
        if template != "accounts/email/login_details":
            queue_email(
                school=school,
                to="mari.maasikas@example.ee",
                kind="tests.sample",
                template=template,
                context=context,
                language=language,
            )
    deliver_due_emails()
    assert len(mail.outbox) == len(SAMPLES)
    for message in mail.outbox:
        name = message.subject.partition("] ")[2][:30].replace(" ", "-").replace("/", "")
        page.set_content(_html_part(message))
        check(page, f"{language}-{name}")
