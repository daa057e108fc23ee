"""A number of things in words, as each language says it: "1 taotlus", "3 taotlust", "5 заявлений".

Django's admin puts a number before a model's name ("{{ count }} {{ verbose_name_plural }}"),
which reads right only in English: Estonian says "3 taotlust" (the partitive singular), not
"3 taotlused", and Russian has three forms. So each model the admin lists has its counted
forms here, as one plural message with the number in it; each catalogue gives every form its
language has. A model missing here falls back to Django's way.

The admin's templates use these through `{% counted %}` (templatetags/counted.py):
admin/pagination.html and admin/actions.html.
"""

from typing import Any

from django.db.models import Model
from django.db.models.options import Options
from django.utils.translation import npgettext_lazy

# By model label. Our models and the libraries' models an operator sees in the admin.
COUNTED: dict[str, Any] = {
    "schools.school": npgettext_lazy("number of", "%(count)s school", "%(count)s schools", "count"),
    "schools.schoolhost": npgettext_lazy(
        "number of", "%(count)s host name", "%(count)s host names", "count"
    ),
    "schools.student": npgettext_lazy(
        "number of", "%(count)s student", "%(count)s students", "count"
    ),
    "schools.studentimport": npgettext_lazy(
        "number of", "%(count)s student list import", "%(count)s student list imports", "count"
    ),
    "accounts.user": npgettext_lazy("number of", "%(count)s user", "%(count)s users", "count"),
    "accounts.auditentry": npgettext_lazy(
        "number of", "%(count)s audit entry", "%(count)s audit entries", "count"
    ),
    "applications.application": npgettext_lazy(
        "number of", "%(count)s application", "%(count)s applications", "count"
    ),
    "notifications.email": npgettext_lazy(
        "number of", "%(count)s e-mail", "%(count)s e-mails", "count"
    ),
    "auth.group": npgettext_lazy("number of", "%(count)s group", "%(count)s groups", "count"),
    "axes.accessattempt": npgettext_lazy(
        "number of", "%(count)s access attempt", "%(count)s access attempts", "count"
    ),
    "axes.accesslog": npgettext_lazy(
        "number of", "%(count)s access log entry", "%(count)s access log entries", "count"
    ),
    "axes.accessfailurelog": npgettext_lazy(
        "number of", "%(count)s failed login", "%(count)s failed logins", "count"
    ),
    "django_tasks_database.dbtaskresult": npgettext_lazy(
        "number of", "%(count)s task result", "%(count)s task results", "count"
    ),
}


def counted(model: type[Model] | Model | Options, count: int) -> str:
    """`count` things of the model, in the active language: "3 taotlust"."""
    opts = model if isinstance(model, Options) else model._meta
    forms = COUNTED.get(opts.label_lower)
    if forms is None:
        name = opts.verbose_name if count == 1 else opts.verbose_name_plural
        return f"{count} {name}"
    return str(forms % {"count": count})
