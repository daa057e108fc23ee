"""Names that the libraries' admin pages show an operator (django-axes' records of logins,
django-tasks' results), which their own catalogues lack in Estonian.

They are named here only so that `make messages` keeps their translations in the project's
catalogues, which Django reads before any library's; nothing imports this module. The counted
forms ("3 access attempts") are in schools/counted.py.
"""

from django.utils.translation import gettext_noop

LIBRARY_NAMES = [
    # django-axes
    gettext_noop("Axes"),
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    # django-tasks' database backend
    gettext_noop("Tasks Database Backend"),
    gettext_noop("Task Result"),
    gettext_noop("Task Results"),
]
