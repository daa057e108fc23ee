# Russian as Estonian institutions write it: "29.11.2026 10:09". Django's own Russian formats
# spell the month out, with the year's abbreviation: too wide for the admin's columns.
DATE_FORMAT = "d.m.Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "d.m.Y H:i"
SHORT_DATE_FORMAT = "d.m.Y"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
FIRST_DAY_OF_WEEK = 1  # Monday
