"""Words of django-import-export that the student list's pages show (its Import and Export
buttons, the export page), which its own catalogue has in Russian but not in Estonian.

They are named here only so that `make messages` keeps their translations in the project's
catalogues, which Django reads before any library's; nothing imports this module.
"""

from django.utils.translation import gettext_noop

IMPORT_EXPORT_MESSAGES = [
    gettext_noop("Import"),
    gettext_noop("Export"),
    gettext_noop("This exporter will export the following fields: "),
    gettext_noop("Select all"),
    gettext_noop("Submit"),
    gettext_noop("Format"),
    gettext_noop("Resource"),
    gettext_noop('Select at least 1 field for "%(resource_name)s" to export'),
]
