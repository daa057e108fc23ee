"""State changes of applications."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from koolivarav.schools.models import School, Student

from .models import Application


@dataclass(frozen=True)
class ApplicantData:
    """What a parent entered, already checked by the form (see forms.ApplicationForm)."""

    parent_id_code: str
    first_name: str
    last_name: str
    email: str
    phone: str
    child_id_codes: tuple[str, ...]


class ChildrenNotFound(Exception):
    """A child's code no longer matches an active student of the school."""


def submit_application(*, school: School, data: ApplicantData, language: str) -> Application:
    """Record a parent's application, or update their pending one at this school.

    A parent (same ID code) who already has a pending application gets its contact data
    refreshed and the new children added, so a double click or a second try never creates a
    second application. Raises ChildrenNotFound when a code no longer matches an active
    student (the school changed its list between the two steps).
    """
    students = list(
        Student.objects.filter(school=school, is_active=True, id_code__in=data.child_id_codes)
    )
    if len(students) != len(set(data.child_id_codes)):
        raise ChildrenNotFound
    fields = {
        "first_name": data.first_name,
        "last_name": data.last_name,
        "email": data.email,
        "phone": data.phone,
        "language": language,
    }
    for attempt in range(2):
        try:
            with transaction.atomic():
                application = (
                    Application.objects.select_for_update()
                    .filter(
                        school=school,
                        parent_id_code=data.parent_id_code,
                        status=Application.Status.PENDING,
                    )
                    .first()
                )
                if application is None:
                    application = Application.objects.create(
                        school=school, parent_id_code=data.parent_id_code, **fields
                    )
                else:
                    for name, value in fields.items():
                        setattr(application, name, value)
                    application.save(update_fields=[*fields, "updated_at"])
                application.children.add(*students)
                return application
        except IntegrityError:
            # Another request created this parent's pending application at the same moment;
            # the second attempt finds it and updates it instead.
            if attempt:
                raise
    raise AssertionError("unreachable")
