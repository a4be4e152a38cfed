"""How the admin writes dates and times in English: "7 Dec 2026, 14:05".

Django 5 always localizes, so the locale's format module wins over settings such as
DATETIME_FORMAT; FORMAT_MODULE_PATH puts this module first. Day-month-year with a
24-hour clock reads the same to every desk (no "12/07" that is July to some and
December to others). Input formats are Django's English ones, unchanged, so that the
admin's date and time widgets keep parsing what they write (ISO dates, 24-hour times).
"""

from django.conf.locale.en import formats as _english  # type: ignore[import-untyped]

DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
FIRST_DAY_OF_WEEK = 1  # Monday

DATE_INPUT_FORMATS = _english.DATE_INPUT_FORMATS
TIME_INPUT_FORMATS = _english.TIME_INPUT_FORMATS
DATETIME_INPUT_FORMATS = _english.DATETIME_INPUT_FORMATS
DECIMAL_SEPARATOR = _english.DECIMAL_SEPARATOR
THOUSAND_SEPARATOR = _english.THOUSAND_SEPARATOR
NUMBER_GROUPING = _english.NUMBER_GROUPING
