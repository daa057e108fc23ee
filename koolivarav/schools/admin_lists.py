"""What an admin list takes from its query string: its declared filters, and no ID codes.

Django's admin filters a list by any lookup on any local field of its model
(`?password__startswith=`, `?id_code__startswith=`): a school's administrator could read a
parent's password hash, or a masked ID code, prefix by prefix. `DeclaredLookupsOnly` lets only
the parameters of the list's declared filters (`list_filter`, `date_hierarchy`) reach the
database and answers anything else with a 400. `NoIdCodesInSearch` keeps ID codes out of the
search box's web address, where every access log would keep them.

`SchoolAdminSite.register` puts both on every admin of the site, the libraries' included.
"""

import re
from functools import cache
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.views.main import ChangeList
from django.db.models import Field
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _

# Eleven digits in a row, however spaced or dashed: an ID code typed into a search box.
_ID_CODE_IN_TEXT = re.compile(r"(?:\d[\s-]*){10}\d")


def contains_id_code(text: str) -> bool:
    return bool(_ID_CODE_IN_TEXT.search(text))


class DeclaredLookupsChangeList(ChangeList):
    """A change list that refuses every query-string parameter no declared filter took."""

    def get_filters(self, request: HttpRequest) -> Any:
        # Each declared filter takes (pops) its own expected parameters; what is left would
        # go to QuerySet.filter() as it stands, on any field, so it is refused instead.
        filter_specs, has_filters, remaining, may_have_duplicates, has_active_filters = (
            super().get_filters(request)
        )
        allowed = set()
        if self.date_hierarchy and f"{self.date_hierarchy}__year" in self.filter_params:
            # The date hierarchy's year/month/day, turned into a range by Django.
            allowed = {f"{self.date_hierarchy}__gte", f"{self.date_hierarchy}__lt"}
        undeclared = sorted(set(remaining) - allowed)
        if undeclared:
            raise DisallowedModelAdminLookup(f"Filtering by {undeclared[0]} not allowed")
        return filter_specs, has_filters, remaining, may_have_duplicates, has_active_filters


@cache
def _guarded_changelist(base: type[ChangeList]) -> type[ChangeList]:
    if issubclass(base, DeclaredLookupsChangeList):
        return base
    return type(f"DeclaredLookups{base.__name__}", (DeclaredLookupsChangeList, base), {})


def _declared_filter_names(model_admin: admin.ModelAdmin, request: HttpRequest | None) -> set[str]:
    """The field paths and parameter names of the list's declared filters."""
    list_filter = (
        model_admin.get_list_filter(request) if request is not None else model_admin.list_filter
    )
    names = {model_admin.date_hierarchy} if model_admin.date_hierarchy else set()
    for item in list_filter:
        if isinstance(item, (list, tuple)):
            item = item[0]
        if isinstance(item, Field):
            names.add(item.name)
        elif isinstance(item, str):
            names.add(item)
        elif parameter := getattr(item, "parameter_name", None):  # a SimpleListFilter
            names.add(parameter)
    return names


class DeclaredLookupsOnly(admin.ModelAdmin):
    """Lists filtered only by their declared filters (see the module's docstring)."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # A first, coarse gate: the parameter must belong to a declared filter's field. The
        # change list then lets through only the exact parameters those filters expect.
        declared = _declared_filter_names(self, request)
        if not any(lookup == name or lookup.startswith(name + LOOKUP_SEP) for name in declared):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[arg-type]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _guarded_changelist(super().get_changelist(request, **kwargs))  # type: ignore[arg-type]


class NoIdCodesInSearch(admin.ModelAdmin):
    """No ID code in a list's web address: it would reach access logs, browser history and
    every link of the result page. A code typed into the search box (or any parameter) is
    dropped and the list shown again, with a word on where to look a code up instead."""

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method == "GET":
            with_codes = [
                name
                for name, values in request.GET.lists()
                if any(contains_id_code(value) for value in values)
            ]
            if with_codes:
                self.message_user(request, self.id_code_search_advice(), messages.WARNING)
                rest = request.GET.copy()
                for name in with_codes:
                    del rest[name]
                suffix = f"?{rest.urlencode()}" if rest else ""
                return HttpResponseRedirect(f"{request.path}{suffix}")
        return super().changelist_view(request, extra_context)

    def id_code_search_advice(self) -> str:
        return _(
            "ID codes are not searched in the search box, so that they stay out of web "
            "addresses and logs. Search by name instead."
        )


def guard_admin_class(admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """The admin class with both guards, as SchoolAdminSite registers every admin."""
    missing = tuple(
        guard
        for guard in (DeclaredLookupsOnly, NoIdCodesInSearch)
        if not issubclass(admin_class, guard)
    )
    if not missing:
        return admin_class
    return type(
        admin_class.__name__,
        (*missing, admin_class),
        {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
    )
