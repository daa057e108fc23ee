from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from koolivarav.schools.admin import SchoolScopedAdmin
from koolivarav.schools.idcodes import mask_id_code

from .models import User


@admin.register(User)
class UserAdmin(SchoolScopedAdmin):
    """Parents and administrators of the school; passwords are never shown or typed here."""

    list_display = ["last_name", "first_name", "email", "role", "is_active", "date_joined"]
    list_filter = ["role", "is_active"]
    search_fields = ["last_name", "first_name", "email"]
    ordering = ["last_name", "first_name"]
    list_per_page = 50
    filter_horizontal = ["children"]
    readonly_fields = ["last_login", "date_joined", "masked_id_code"]
    fieldsets = [
        (None, {"fields": ["email", "first_name", "last_name", "school", "role"]}),
        (_("Contact"), {"fields": ["phone", "address", "language"]}),
        (_("Children"), {"fields": ["children"]}),
        (
            _("Status"),
            {"fields": ["is_active", "must_change_password", "last_login", "date_joined"]},
        ),
    ]

    @admin.display(description=_("ID code"))
    def masked_id_code(self, obj: User) -> str:
        return mask_id_code(obj.id_code)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if getattr(request.user, "is_operator", False):
            return fieldsets
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "school"]})
            for name, opts in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if not getattr(request.user, "is_operator", False):
            # Who is an administrator is the operator's decision, not the school's.
            readonly.append("role")
        return readonly

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        # Parent accounts come from approved applications, never typed in by hand.
        return bool(getattr(request.user, "is_operator", False))

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "children" and not getattr(request.user, "is_operator", False):
            kwargs["queryset"] = db_field.related_model.objects.filter(school=request.school)  # type: ignore[attr-defined]
        return super().formfield_for_manytomany(db_field, request, **kwargs)
