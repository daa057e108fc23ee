from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _


class SchoolAdminSite(admin.AdminSite):
    """The admin of one school at a time: a school's administrators only at its own host."""

    site_header = _("Koolivärav administration")
    site_title = _("Koolivärav")
    index_title = _("School administration")

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active
            and user.is_staff
            and hasattr(user, "administers")
            and user.administers(getattr(request, "school", None))
        )
