"""What the admin looks like to a school's secretary (issue 14 item 6), in a real browser at
1280 px and 1024 px: axe and the Nu HTML Checker on every page of ours, and no list (but the
review queue, whose columns are the review's own) clipped or one word to a line. Screenshots
of the index, the digest e-mail and the import go to test-results/screenshots."""

import csv
import io
from datetime import date

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from koolivarav.accounts.models import AuditEntry, User
from koolivarav.accounts.services import record, send_login_details
from koolivarav.accounts.tests.factories import (
    PASSWORD,
    SchoolAdminFactory,
    UserFactory,
    totp_code,
)
from koolivarav.applications.services import ApplicantData, submit_application
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.operations.digests import send_due_digests
from koolivarav.schools.demo import generate_students, make_id_code
from koolivarav.schools.models import Student
from koolivarav.schools.services import queue_student_import, run_student_import
from koolivarav.schools.tests.factories import SchoolFactory
from koolivarav.tests.browser.conftest import SCREENSHOTS

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 1024)

# In the page: every list cell whose words stand one to a line, cells cut off, and a list or a
# page wider than the window. Block parts of a cell (an error under a state) are lines of their
# own, so only cells of three words or more count, as a column squeezed to one word a line.
_LAYOUT_PROBLEMS = """
() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth + 1) {
    problems.push(`the page is ${root.scrollWidth}px wide in ${window.innerWidth}px`);
  }
  const results = document.querySelector("#changelist .results");
  if (results && results.scrollWidth > results.clientWidth + 1) {
    problems.push(`the list is ${results.scrollWidth}px wide in ${results.clientWidth}px`);
  }
  for (const cell of document.querySelectorAll("#result_list td, #result_list th")) {
    const text = cell.innerText.trim();
    if (cell.scrollWidth > cell.clientWidth + 1) {
      problems.push(`cut off: "${text}"`);
    }
    const words = text.split(/\\s+/).filter(Boolean);
    if (words.length < 3) {
      continue;
    }
    // The lines the cell's text takes: the tops of its text's line boxes.
    const lines = new Set();
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.width > 0) lines.add(Math.round(r.top));
      }
    }
    if (lines.size >= words.length) {
      problems.push(`one word to a line: "${text}"`);
    }
  }
  return problems;
}
"""


class AdminChecker:
    """Every check, at each width, on the page the browser shows; a screenshot of each."""

    def __init__(self, html_checker) -> None:
        self.html_checker = html_checker
        self.seen: list[str] = []

    def __call__(self, page, name: str) -> None:
        from axe_playwright_python.sync_playwright import Axe

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=SCREENSHOTS / f"admin-{name}-{width}.png", full_page=True)
            problems = page.evaluate(_LAYOUT_PROBLEMS)
            assert problems == [], f"{name} at {width}px: {problems}"
            results = Axe().run(page)
            serious = [
                v for v in results.response["violations"] if v["impact"] in ("serious", "critical")
            ]
            assert serious == [], f"{name} at {width}px: " + "; ".join(
                f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes']][:3]})" for v in serious
            )
        errors = self.html_checker(page.content())
        assert errors == [], f"{name}: " + "; ".join(e["message"] for e in errors)
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        self.seen.append(name)


@pytest.fixture
def admin_check(html_checker):
    return AdminChecker(html_checker)


@pytest.fixture
def school(live_server):
    return SchoolFactory(portal_url=live_server.url + "/")


@pytest.fixture
def secretary(school):
    user = SchoolAdminFactory(
        school=school,
        email="sekretar@jpk.example.ee",
        first_name="Kadri",
        last_name="Kask",
        application_notices=User.ApplicationNotices.DIGEST,
        digest_hour=8,
    )
    TOTPDevice.objects.create(user=user, name="telefon", confirmed=True)
    return user


def _morning(school, secretary) -> None:
    """A school on a September morning: students, applications (some confirmed by the records,
    some not), e-mails sent and failed, decisions in the audit trail."""
    # A second administrator hears of each application as it comes.
    SchoolAdminFactory(school=school, email="direktor@jpk.example.ee", first_name="Dora")
    students = [
        Student.objects.create(school=school, **row) for row in generate_students(30, seed=14)
    ]
    for serial in range(12):
        parent = make_id_code(birth=date(1982, 3, 4), female=serial % 2 == 0, serial=serial)
        children = students[serial * 2 : serial * 2 + 1 + serial % 2]
        if serial % 3:
            for child in children:
                child.guardian_id_codes = [parent]
                child.save()
        submit_application(
            school=school,
            data=ApplicantData(
                parent_id_code=parent,
                first_name="Hanna-Liisa",
                last_name="Kuusk-Mölder",
                email=f"hanna-liisa.kuusk-molder{serial}@example.ee",
                phone=f"+3725550{serial:04d}",
                child_id_codes=tuple(c.id_code for c in children),
            ),
            language="et",
        )
    parent = UserFactory(school=school, email="mari.maasikas@example.ee")
    parent.children.add(students[0])
    send_login_details(user=parent)
    deliver_due_emails()
    failed = Email.objects.filter(kind="applications.new_application").first()
    Email.objects.filter(pk=failed.pk).update(
        status=Email.Status.FAILED,
        attempts=5,
        last_error="SMTPRecipientsRefused: {'[…]': (550, b'5.1.1 User unknown')}",
    )
    for action in (AuditEntry.Action.RESENT, AuditEntry.Action.STUDENT_DEACTIVATED):
        record(
            school=school,
            actor=secretary,
            action=action,
            target="Šarlotta Kuusk-Mölder (7.b)",
            before="õpib koolis",
            after="ei õpi koolis",
        )
    record(
        school=school,
        actor=secretary,
        action=AuditEntry.Action.CHILDREN_CHANGED,
        target="Hanna-Liisa Kuusk-Mölder",
        before="Kärt Maasikas (3.b)",
        after="Kärt Maasikas (3.b), Jüri Maasikas (7.a)",
    )


def _log_in(page, live_server, secretary, admin_check) -> None:
    page.goto(live_server.url + "/admin/")
    page.get_by_label("E-mail:").fill(secretary.email)
    page.get_by_label("Salasõna:").fill(PASSWORD)
    page.get_by_role("button", name="Logi sisse").click()
    expect(page.locator("#nav-sidebar")).to_have_count(0)
    expect(page.locator(".breadcrumbs")).to_have_count(0)
    admin_check(page, "second-factor")
    device = TOTPDevice.objects.get(user=secretary)
    page.locator("input[name=code]").fill(totp_code(device))
    page.locator("input[type=submit]").click()


def _student_list(count: int, *, bad_row: int | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["isikukood", "eesnimi", "perekonnanimi", "klass"])
    for number, row in enumerate(generate_students(count, seed=15), start=1):
        class_name = "7.b\x07" if number == bad_row else row["class_name"]
        writer.writerow([row["id_code"], row["first_name"], row["last_name"], class_name])
    return out.getvalue().encode()


def test_every_admin_page_of_ours(page, live_server, admin_check, school, secretary):
    _morning(school, secretary)
    _log_in(page, live_server, secretary, admin_check)
    base = live_server.url + "/admin/"

    expect(page.locator(".school-today h2")).to_have_text(school.name)
    admin_check(page, "index")
    for path, name in [
        ("notifications/email/", "emails"),
        ("notifications/email/?status__exact=failed", "emails-failed"),
        ("accounts/user/", "users"),
        (f"accounts/user/{secretary.pk}/change/", "own-account"),
        ("accounts/auditentry/", "audit-trail"),
        ("schools/student/", "students"),
        ("schools/student/import/", "import"),
        ("schools/student/export/", "export"),
    ]:
        page.goto(base + path)
        admin_check(page, name)

    sent = Email.objects.get(kind="accounts.login_details")
    page.goto(base + f"notifications/email/{sent.pk}/change/")
    expect(page.locator(".email-text")).to_contain_text("Ajutine salasõna on: ••••••••")
    admin_check(page, "email-as-sent")

    # The list's own Reject form (the review's one-by-one forms are the review's).
    page.goto(base + "applications/application/?status__exact=pending")
    page.locator("input[name=_selected_action]").first.check()
    page.locator("select[name=action]").select_option("reject_selected")
    page.locator("button[name=index]").click()
    expect(page.locator(".submit-row .cancel-link")).to_be_visible()
    admin_check(page, "reject-form")

    # Imports: one done, one refused with its problem by row.
    done = queue_student_import(
        school=school, uploaded_by=secretary, file_name="nimekiri.csv", data=_student_list(40)
    )
    run_student_import(import_id=done.pk)
    page.goto(base + f"schools/student/import/{done.pk}/")
    admin_check(page, "import-done")
    refused = queue_student_import(
        school=school,
        uploaded_by=secretary,
        file_name="nimekiri-vigane.csv",
        data=_student_list(40, bad_row=17),
    )
    run_student_import(import_id=refused.pk)
    page.goto(base + f"schools/student/import/{refused.pk}/")
    expect(page.locator(".import-problems td").first).to_have_text("17")
    admin_check(page, "import-refused")


def test_an_import_shows_its_progress_and_then_its_outcome(
    page, live_server, admin_check, school, secretary
):
    _log_in(page, live_server, secretary, admin_check)
    waiting = queue_student_import(
        school=school, uploaded_by=secretary, file_name="nimekiri.csv", data=_student_list(25)
    )
    page.goto(live_server.url + f"/admin/schools/student/import/{waiting.pk}/")
    expect(page.locator("#import-status")).to_be_visible()
    admin_check(page, "import-waiting")
    run_student_import(import_id=waiting.pk)  # the worker; the page's script notices
    expect(page.locator(".import-outcome")).to_be_visible(timeout=10_000)
    assert Student.objects.filter(school=school).count() == 25


def test_the_digest_email(page, school, secretary, settings, html_checker):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _morning(school, secretary)
    mail.outbox.clear()
    from django.utils import timezone

    now = timezone.localtime().replace(hour=9, minute=0)
    assert send_due_digests(now=now) == 1
    deliver_due_emails()
    (message,) = [m for m in mail.outbox if m.to == [secretary.email]]
    html = message.alternatives[0][0]
    page.set_content(html)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 800, "height": 900})
    page.screenshot(path=SCREENSHOTS / "admin-digest-email.png", full_page=True)
    assert html_checker(html) == []
    assert "Hanna-Liisa" not in html  # the digest names nobody
