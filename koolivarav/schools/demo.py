"""A demo school with valid, made-up students: for `make run`, tests and benchmarks."""

import random
from collections.abc import Iterator
from datetime import date

from stdnum import ee

DEMO_SCHOOL = {
    "name": "Jõgeva Põhikool",
    "short_name": "jpk",
    "portal_url": "http://127.0.0.1:8000/",
    "sender_email": "robot@jpk.example",
    # The office's contact, as parents see it in the footer and the rejection e-mail.
    "office_email": "kantselei@jpk.example",
    "phone": "+3727761234",
    "postal_address": "Tähe 3, 48105 Jõgeva",
    "office_hours": "E-R 8.00-16.00",
}

# People the demo's stand-in identity provider lets one log in as (ID code, given name, family
# name, as TARA sends them: in capitals). Mari Maasikas is listed in the demo school's records as
# the guardian of its first two students; Jaan Tamm is a parent the school does not know; Kadri
# Kask is the demo school's administrator.
DEMO_PARENT_CODE = "48405172715"
DEMO_STRANGER_CODE = "37901230223"
DEMO_ADMIN_CODE = "47703150018"
DEMO_PEOPLE = [
    (DEMO_PARENT_CODE, "MARI", "MAASIKAS"),
    (DEMO_STRANGER_CODE, "JAAN", "TAMM"),
    (DEMO_ADMIN_CODE, "KADRI", "KASK"),
]

FIRST_NAMES = [
    "Mari", "Jüri", "Kätlin", "Õnne", "Märt", "Ülle", "Sander", "Liisa", "Tõnis", "Kärt",
    "Mihkel", "Eliise", "Rasmus", "Hanna-Liisa", "Georg", "Šarlotta", "Žanna", "Ott",
]  # fmt: skip
LAST_NAMES = [
    "Maasikas", "Tamm", "Saar", "Sepp", "Mägi", "Kask", "Kukk", "Rebane", "Ilves", "Põder",
    "Pärn", "Kõiv", "Lepik", "Väli", "Jõgi", "Šmidt", "Õunapuu", "Kuusk-Mölder",
]  # fmt: skip


def make_id_code(*, birth: date, female: bool, serial: int) -> str:
    """A valid Estonian ID code for the given birth date (serial 0-999 tells people apart)."""
    century = (birth.year - 1800) // 100  # 1800s -> 0, 1900s -> 1, 2000s -> 2
    first = 1 + 2 * century + (1 if female else 0)
    body = f"{first}{birth:%y%m%d}{serial % 1000:03d}"
    return body + ee.ik.calc_check_digit(body + "0")


def generate_students(count: int, *, seed: int = 7) -> Iterator[dict[str, str]]:
    """`count` students with distinct valid codes, names with Estonian letters and classes."""
    rng = random.Random(seed)  # noqa: S311 - made-up data, not a secret
    used: set[str] = set()
    while len(used) < count:
        birth = date(rng.randint(2009, 2019), rng.randint(1, 12), rng.randint(1, 28))
        code = make_id_code(birth=birth, female=rng.random() < 0.5, serial=rng.randint(0, 999))
        if code in used:
            continue
        used.add(code)
        grade = max(1, min(9, 2026 - birth.year - 7))
        yield {
            "id_code": code,
            "first_name": rng.choice(FIRST_NAMES),
            "last_name": rng.choice(LAST_NAMES),
            "class_name": f"{grade}.{rng.choice('abc')}",
        }
