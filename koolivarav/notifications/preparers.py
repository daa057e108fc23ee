"""Hooks that add to an e-mail at the moment it is sent.

An app that needs a value that may not be stored (a temporary password) registers a
preparer for its kind of e-mail: it returns extra template context, and a function that the
worker calls in the same transaction that marks the e-mail sent. Apps register in their
AppConfig.ready(), so this module needs to know none of them.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .models import Email


@dataclass
class Prepared:
    context: dict[str, Any] = field(default_factory=dict)
    on_sent: Callable[[], None] = lambda: None
    # Keys of `context` whose text the kept copy of the e-mail (Email.text) and the admin's
    # preview may show as it is, such as a name. Every other text a preparer adds is made at
    # sending time for this e-mail alone (a password, a link that works) and is masked there.
    shown: frozenset[str] = frozenset()

    def secrets(self) -> list[str]:
        """The texts this preparer added that no kept copy may show."""
        return [
            value
            for key, value in self.context.items()
            if isinstance(value, str) and value.strip() and key not in self.shown
        ]


class SkipEmail(Exception):
    """The e-mail no longer makes sense (e.g. its account was deleted): mark it failed."""


Preparer = Callable[[Email], Prepared]
_preparers: dict[str, Preparer] = {}


def register(kind: str, preparer: Preparer) -> None:
    _preparers[kind] = preparer


def is_prepared(kind: str) -> bool:
    """Whether e-mails of this kind are made for an account at sending time (a password, a
    link): such an e-mail goes to the account's address, never to one typed in elsewhere."""
    return kind in _preparers


def prepare(email: Email) -> Prepared:
    preparer = _preparers.get(email.kind)
    return preparer(email) if preparer else Prepared()
