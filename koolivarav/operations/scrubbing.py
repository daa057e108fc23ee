"""Personal data out of text that leaves the process: log lines and error reports.

The code logs no ID code, e-mail address or token in the first place (koolivarav/tests/
test_logs.py); this is the second line, for what the code does not choose to write: an
exception's message (a database's "Key (email)=(…) already exists"), a query string, a path.
"""

import re

# Eleven digits, also typed in groups ("390010 10008", "390010+10008" in a query string):
# an Estonian ID code, valid or mistyped (a mistyped code is still somebody's), or a phone
# number with its country code. A longer run of digits is not one, nor are digits inside a
# word: a hexadecimal id (an error report's span id, a commit) keeps its eleven digits.
ID_CODE = re.compile(r"(?<![0-9A-Za-z])\d(?:(?:\s|\+|%20)?\d){10}(?![0-9A-Za-z])")
EMAIL_ADDRESS = re.compile(r"[\w.%+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
# Django's password reset token (PasswordResetTokenGenerator): a timestamp in base 36 and
# 32 hex digits of an HMAC. It sits in the reset link's path.
RESET_TOKEN = re.compile(r"\b[0-9a-z]{1,13}-[0-9a-f]{32}\b")

ID_CODE_MASK = "[id code]"
EMAIL_MASK = "[e-mail]"
TOKEN_MASK = "[token]"  # noqa: S105 - what replaces a token, not one


def scrub_text(text: str) -> str:
    """The text with every ID code, e-mail address and reset token masked."""
    text = RESET_TOKEN.sub(TOKEN_MASK, text)
    text = EMAIL_ADDRESS.sub(EMAIL_MASK, text)
    return ID_CODE.sub(ID_CODE_MASK, text)
