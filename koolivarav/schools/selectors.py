"""Reads of schools and students."""

import time
from collections.abc import Iterable

from django.db.models import QuerySet

from .models import School, SchoolHost, Student

# Every request asks which school its host belongs to; the answer changes only when an
# operator edits a school, so each server process keeps it for a short while.
HOST_CACHE_SECONDS = 30
_host_cache: dict[str, tuple[float, School | None]] = {}


def school_for_host(*, host: str) -> School | None:
    """The school that answers on this host name; with one school, every host finds it.

    `host` is the request's host without a port. Returns None when no school answers.
    Answers are kept per process for HOST_CACHE_SECONDS.
    """
    hostname = host.strip().lower().rstrip(".")
    now = time.monotonic()
    cached = _host_cache.get(hostname)
    if cached is not None and now - cached[0] < HOST_CACHE_SECONDS:
        return cached[1]
    school = _school_for_hostname(hostname)
    if len(_host_cache) > 1000:  # a flood of made-up Host headers must not grow it for ever
        _host_cache.clear()
    _host_cache[hostname] = (now, school)
    return school


def forget_hosts() -> None:
    """Drop the cached answers (after a school or host name changes)."""
    _host_cache.clear()


def _school_for_hostname(hostname: str) -> School | None:
    school_host = SchoolHost.objects.select_related("school").filter(hostname=hostname).first()
    if school_host is not None:
        return school_host.school
    schools = list(School.objects.all()[:2])
    if len(schools) == 1:
        return schools[0]
    return None


def students_matching(*, school: School, id_codes: Iterable[str]) -> dict[str, Student]:
    """Active students of this school whose ID code is one of `id_codes`, keyed by code."""
    students = Student.objects.filter(school=school, is_active=True, id_code__in=list(id_codes))
    return {student.id_code: student for student in students}


def students_of(*, school: School) -> QuerySet[Student]:
    return Student.objects.filter(school=school)
