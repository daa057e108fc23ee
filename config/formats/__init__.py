"""The project's own date, time and number formats (FORMAT_MODULE_PATH), per language.

Django looks here first and falls back, name by name, to its own locale formats. Estonian
dates and times read "29.11.2026 10:09" everywhere, the admin's lists included; Django's
Estonian formats leave DATETIME_FORMAT to the English default ("nov. 29, 2026, 10:09 e.l.").
"""
