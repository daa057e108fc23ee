"""A September morning in the school's office (issue 14): forty applications waiting, some
fully backed by the school's records, some partly, some not. The secretary filters the queue,
approves the matching ones in one go, reviews the rest one after another (a child not added
with a reason, a question to a parent, rejections), the parent answers on the status page,
and the secretary approves. Every admin page passes axe and the Nu HTML checker at 1280 and
1024 px with no clipped column and no column one word per line; the clicks and page loads
per application are counted and printed among the run's figures."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone, translation
from playwright.sync_api import expect

from koolivarav.accounts.models import User
from koolivarav.accounts.tests.factories import PASSWORD, SchoolAdminFactory
from koolivarav.accounts.tests.test_views import app_code
from koolivarav.applications.forms_admin import READY_QUESTIONS, READY_REASONS
from koolivarav.applications.models import Application, ChildDecision, Question
from koolivarav.applications.services import ApplicantData, submit_application
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import SchoolFactory, StudentFactory
from koolivarav.tests.browser.conftest import SCREENSHOTS
from koolivarav.tests.figures import FIGURES

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 1024)
# 40 applications: the records list the parent for every child, for some, for none.
ALL, SOME, NONE = "Kõik", "Osa", "Pole"
GROUPS = {ALL: 20, SOME: 10, NONE: 10}
ASKED = f"{NONE}01"  # the one the secretary asks instead of rejecting


def et(text: str) -> str:
    with translation.override("et"):
        return translation.gettext(text)


def _code(n: int) -> str:
    return make_id_code(birth=date(1975 + n % 20, 1 + n % 12, 1 + n % 28), female=True, serial=n)


@pytest.fixture
def school(live_server):
    return SchoolFactory(
        portal_url=live_server.url + "/",
        office_email="kantselei@jpk.example.ee",
        hold_unconfirmed_applications=False,
    )


@pytest.fixture
def secretary(school):
    return SchoolAdminFactory(school=school, email="sekretar@jpk.example.ee")


@pytest.fixture
def morning(school):
    """Forty applications, the oldest first in time; names say their group."""
    n = 0
    created = {}
    for group, count in GROUPS.items():
        for k in range(1, count + 1):
            n += 1
            parent = _code(n)
            listed = {ALL: (True, True), SOME: (True, False), NONE: (False,)}[group]
            if group == ALL and k % 2:
                listed = (True,)
            children = [
                StudentFactory(school=school, guardian_id_codes=[parent] if is_listed else [])
                for is_listed in listed
            ]
            name = f"{group}{k:02d}"
            application = submit_application(
                school=school,
                data=ApplicantData(
                    parent_id_code=parent,
                    first_name="Mari",
                    last_name=name,
                    email=f"{name.lower()}@example.ee",
                    phone="+37255512345",
                    child_id_codes=tuple(c.id_code for c in children),
                ),
                language="et",
            )
            Application.objects.filter(pk=application.pk).update(
                created_at=timezone.now() - timedelta(minutes=200 - n)
            )
            created[name] = application
    return created


class Office:
    """The secretary's browser, counting what the secretary does: clicks (a button, a link,
    a checkbox, a radio button, a choice in a list) and page loads."""

    def __init__(self, page, html_checker) -> None:
        self.page = page
        self.html_checker = html_checker
        self.clicks = 0
        self.loads = 0
        self.counting = False
        page.on("load", self._loaded)

    def _loaded(self, _page) -> None:
        if self.counting:
            self.loads += 1

    def click(self, locator, *, opens: bool = True) -> None:
        """A click; `opens`: it loads a page, which this waits for."""
        self.clicks += self.counting
        if opens:
            with self.page.expect_navigation():
                locator.click()
        else:
            locator.click()

    def check(self, locator) -> None:
        self.clicks += self.counting
        locator.check()

    def choose(self, locator, value: str) -> None:
        self.clicks += self.counting
        locator.select_option(value)

    def inspect(self, name: str) -> None:
        """axe and the HTML checker, at each width: no page wider than the window, no cell
        of the list clipped or one word per line."""
        from axe_playwright_python.sync_playwright import Axe

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            shot = SCREENSHOTS / f"september-{name}-{width}.png"
            self.page.screenshot(path=shot, full_page=True)
            self.page.screenshot(path=shot.with_suffix(".top.png"))
            wide = self.page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{name}: {wide}px wide in a {width}px window"
            problems = self.page.evaluate(CELLS_LAID_OUT)
            assert problems == [], f"{name} at {width}px: {problems}"
            results = Axe().run(self.page)
            serious = [
                v for v in results.response["violations"] if v["impact"] in ("serious", "critical")
            ]
            assert serious == [], f"{name} at {width}px: " + "; ".join(
                f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:3]}" for v in serious
            )
        self.page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        errors = self.html_checker(self.page.content())
        assert errors == [], f"{name}: " + "; ".join(e["message"] for e in errors)


# In every table of the page: a cell whose content is cut off (wider than the cell), or a
# cell of several words shown one word per line.
CELLS_LAID_OUT = """
() => {
  const problems = [];
  for (const box of document.querySelectorAll('#changelist .results')) {
    if (box.scrollWidth > box.clientWidth + 1) {
      const widths = [...box.querySelectorAll('thead th')].map(th => th.offsetWidth);
      problems.push(`the list scrolls sideways: ${box.scrollWidth} > ${box.clientWidth} (${widths})`);
    }
  }
  for (const cell of document.querySelectorAll('#content table td, #content table th')) {
    const text = cell.innerText.trim();
    if (!text) continue;
    if (cell.scrollWidth > cell.clientWidth + 1) {
      problems.push(`clipped: ${text.slice(0, 40)}`);
      continue;
    }
    for (const line of text.split('\\n')) {
      const words = line.trim().split(/\\s+/).filter(Boolean);
      if (words.length < 3) continue;
      const range = document.createRange();
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      let node, tops = new Set();
      while ((node = walker.nextNode())) {
        if (!line.includes(node.textContent.trim()) || !node.textContent.trim()) continue;
        range.selectNodeContents(node);
        for (const rect of range.getClientRects()) tops.add(Math.round(rect.top));
      }
      if (tops.size >= words.length) problems.push(`one word per line: ${line.slice(0, 40)}`);
    }
  }
  return problems;
}
"""


def _log_in(office, live_server, secretary):
    page = office.page
    page.goto(live_server.url + "/admin/")
    page.get_by_label("E-mail:").fill(secretary.email)
    page.get_by_label("Salasõna:").fill(PASSWORD)
    page.get_by_role("button", name="Logi sisse").click()
    key = page.locator("code.second-factor-key").inner_text()
    page.get_by_label("Kood autentimisrakendusest").fill(app_code(key))
    page.get_by_role("button", name="Kinnita").click()
    page.wait_for_load_state()
    page.goto(live_server.url + "/admin/")  # past the recovery codes' page, shown once


def _current(page) -> str:
    """The last name of the application on the review page."""
    heading = page.locator("h1").inner_text()
    return re.search(r"Mari (\w+)", heading).group(1)


def _review(office, name: str) -> None:
    """One application as the secretary decides it on its page."""
    page = office.page
    group = re.match(r"\D+", name).group(0)
    if name == ASKED:
        office.click(page.get_by_role("link", name=et("Ask the parent…")))
        office.check(page.get_by_label(et(READY_QUESTIONS["custody"])))
        office.inspect("ask")
        office.click(page.get_by_role("button", name=et("Send the question")))
    elif group == SOME:
        row = page.locator("tr.records-not-listed")
        office.check(row.get_by_label(et("don't add")))
        office.choose(row.locator("select"), "not_guardian")
        office.click(page.get_by_role("button", name=et("Approve"), exact=True))
    elif group == NONE:
        office.click(page.get_by_role("link", name=et("Reject…")))
        office.check(page.get_by_label(et(READY_REASONS["not_guardian"])))
        if name == f"{NONE}02":
            office.inspect("reject")
        office.click(page.get_by_role("button", name=et("Reject"), exact=True))
    else:
        office.click(page.get_by_role("button", name=et("Approve"), exact=True))


def test_a_september_morning(
    page, browser, check, html_checker, live_server, morning, secretary, smtp_server
):
    office = Office(page, html_checker)
    _log_in(office, live_server, secretary)
    office.counting = True

    # The queue, then only those the records back in full.
    office.click(page.get_by_role("link", name="Taotlused", exact=True))
    expect(page.locator("#result_list")).to_be_visible()
    office.inspect("queue")
    filters = page.locator("#changelist-filter")
    office.click(filters.get_by_role("link", name=et("all children"), exact=True))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(GROUPS[ALL])
    office.inspect("queue-matching")
    office.check(page.locator("#action-toggle"))
    office.choose(page.locator("select[name=action]"), "approve_matching")
    office.click(page.get_by_role("button", name=re.compile("Mine|Go")))
    approved = Application.objects.filter(status=Application.Status.APPROVED).count()
    assert approved == GROUPS[ALL]

    # The rest one after another: the first opens from the list, each decision opens the next.
    office.click(page.locator("#changelist-filter-extra-actions a").last)  # clear the filter
    reviewed = []
    office.click(page.locator("#result_list tbody tr th a").first)
    while page.locator("#decision-heading").count():
        name = _current(page)
        if name in reviewed:
            break
        reviewed.append(name)
        if len(reviewed) == 1:
            office.inspect("review")
        if name.startswith(SOME) and name.endswith("01"):
            office.inspect("review-per-child")
        _review(office, name)
    assert sorted(reviewed) == sorted(n for n in morning if not n.startswith(ALL))
    expect(page.locator("#result_list")).to_be_visible()  # back at the list: none left

    # The parent answers on the status page, from the question's e-mail.
    deliver_due_emails()
    question = et(READY_QUESTIONS["custody"])
    [message] = [
        m
        for m in smtp_server.messages
        if m["To"] == f"{ASKED.lower()}@example.ee"
        and question in m.get_body(("plain",)).get_content()
    ]
    link = re.search(r"http://\S+/apply/status/\?t=\S+", message.get_body(("plain",)).get_content())
    parent = browser.new_context(locale="et-EE", viewport={"width": 1280, "height": 900})
    parent_page = parent.new_page()
    parent_page.goto(link.group(0))
    expect(parent_page.get_by_text(question)).to_be_visible()
    check(parent_page, "status-question")
    parent_page.get_by_label(et("Your answer")).fill("Saatsin hooldusõiguse otsuse koopia täna.")
    parent_page.get_by_role("button", name=et("Send the answer")).click()
    expect(parent_page.get_by_text(et("Thank you: the school has your answer."))).to_be_visible()
    check(parent_page, "status-answered")
    parent.close()

    # Back in the office: the answered one is in the queue, marked; approve it.
    office.click(
        page.locator("#changelist-filter").get_by_role("link", name=et("answered"), exact=True)
    )
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    office.inspect("queue-answered")
    office.click(page.locator("#result_list tbody tr th a").first)
    expect(page.get_by_text("Saatsin hooldusõiguse otsuse koopia täna.")).to_be_visible()
    office.inspect("review-answered")
    office.click(page.get_by_role("button", name=et("Approve"), exact=True))
    expect(page.locator("#result_list")).to_be_visible()
    office.inspect("queue-done")

    # What the morning decided.
    assert Application.objects.filter(status=Application.Status.PENDING).count() == 0
    assert Application.objects.filter(status=Application.Status.REJECTED).count() == 9
    assert (
        ChildDecision.objects.filter(approved=False, application__status="approved").count() == 10
    )
    assert Question.objects.get().answer
    assert User.objects.filter(role=User.Role.PARENT).count() == 31

    count = len(morning)
    FIGURES["september: applications"] = count
    FIGURES["september: clicks in all"] = office.clicks
    FIGURES["september: page loads in all"] = office.loads
    FIGURES["september: clicks per 100 applications"] = round(100 * office.clicks / count)
    FIGURES["september: page loads per 100 applications"] = round(100 * office.loads / count)
