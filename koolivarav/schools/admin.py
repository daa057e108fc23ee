from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from .forms import StudentAdminForm
from .idcodes import mask_id_code
from .models import School, SchoolHost, Student
from .resources import StudentResource


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: a list of a million rows pages as fast as one of a thousand.

    Past the cap the list says "10000+" and offers the first CAP rows' pages; filters and
    search reach the rest.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.CAP + 1].count()  # type: ignore[attr-defined]

    @property
    def capped(self) -> bool:
        return self.count > self.CAP


def _is_operator(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_operator", False))


class SchoolScopedAdmin(admin.ModelAdmin):
    """A model admin that shows a school's administrator only their own school's rows.

    `school_field` names the path from the model to its school. Operators see every school.
    """

    school_field = "school"

    def _administers(self, request: HttpRequest) -> bool:
        administers = getattr(request.user, "administers", None)
        return bool(administers and administers(getattr(request, "school", None)))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.scoped(request, super().get_queryset(request))

    def scoped(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Only the rows an operator, or this school's administrator, may see."""
        if _is_operator(request):
            return queryset
        if not self._administers(request):
            return queryset.none()
        return queryset.filter(**{self.school_field: request.school})  # type: ignore[attr-defined]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._administers(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._administers(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._administers(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._administers(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._administers(request)

    def get_exclude(self, request: HttpRequest, obj: Model | None = None) -> Any:
        excluded = list(super().get_exclude(request, obj) or [])
        if not _is_operator(request) and self.school_field == "school":
            excluded.append("school")
        return excluded

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not _is_operator(request) and self.school_field == "school":
            obj.school = request.school  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)


class ReadOnlySchoolScopedAdmin(SchoolScopedAdmin):
    """For records that are written only by services (logs, outboxes): look, never touch."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class SchoolHostInline(admin.TabularInline):
    model = SchoolHost
    extra = 1


@admin.register(School)
class SchoolAdmin(admin.ModelAdmin):
    """Schools are the operator's: a school's administrator can not add or rename schools."""

    list_display = ["name", "short_name", "portal_url", "sender_email"]
    search_fields = ["name", "short_name"]
    inlines = [SchoolHostInline]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_operator(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_operator(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_operator(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_operator(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_operator(request)


@admin.register(Student)
class StudentAdmin(ImportExportMixin, SchoolScopedAdmin):
    form = StudentAdminForm
    list_display = ["last_name", "first_name", "class_name", "masked_id_code", "is_active"]
    list_filter = ["is_active", "class_name"]
    search_fields = ["last_name", "first_name", "=id_code", "class_name"]
    list_per_page = 50
    resource_classes = [StudentResource]
    import_formats = [CSV, XLSX]
    export_formats = [CSV, XLSX]

    @admin.display(description=_("ID code"), ordering="id_code")
    def masked_id_code(self, obj: Student) -> str:
        return mask_id_code(obj.id_code)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        # The duplicate check needs the school, which is not a field for its administrators.
        return type(form.__name__, (form,), {"school_of_request": getattr(request, "school", None)})

    def get_list_filter(self, request: HttpRequest) -> Any:
        if _is_operator(request):
            return ["school", *self.list_filter]
        return self.list_filter

    def get_resource_kwargs(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        # The list goes into the school whose portal the administrator is on.
        return {"school": request.school}  # type: ignore[attr-defined]

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs.update(use_transactions=True, rollback_on_validation_errors=True)
        return kwargs

    def has_import_permission(self, request: HttpRequest) -> bool:
        return self._administers(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self._administers(request)
