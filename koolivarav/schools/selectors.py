"""Reads of schools and students."""

from collections.abc import Iterable

from django.db.models import QuerySet

from .models import School, SchoolHost, Student


def school_for_host(*, host: str) -> School | None:
    """The school that answers on this host name; with one school, every host finds it.

    `host` is the request's host without a port. Returns None when no school answers.
    """
    hostname = host.strip().lower().rstrip(".")
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
