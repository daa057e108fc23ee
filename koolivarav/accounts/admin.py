from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from koolivarav.notifications.addresses import validate_deliverable_email
from koolivarav.schools.admin import ReadOnlySchoolScopedAdmin, SchoolScopedAdmin
from koolivarav.schools.idcodes import mask_id_code

from .models import AuditEntry, User
from .services import (
    change_children,
    change_email,
    change_role,
    resend_login_details,
    reset_second_factor,
    set_account_active,
)

# The secrets of the authenticator apps, and the recovery codes (only their hashes are
# stored), are nobody's to see: django-otp's own admin goes.
for device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(device_model):
        admin.site.unregister(device_model)


class UserAdminForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        super().clean()
        email = self.cleaned_data.get("email")
        # Django checks the (address, school) constraint only when the school is a field of
        # the form, which it is not for a school's administrators: without this check a taken
        # address would reach the database and fail there (a 500).
        if email and "school" not in self.fields:
            taken = User.objects.filter(school=self.instance.school, email__lower=email.lower())
            if taken.exclude(pk=self.instance.pk).exists():
                self.add_error(
                    "email",
                    ValidationError(
                        _("This school already has an account with this e-mail."),
                        code="email_taken",
                    ),
                )
        return self.cleaned_data


@admin.register(User)
class UserAdmin(SchoolScopedAdmin):
    """Parents and administrators of the school; passwords are never shown or typed here."""

    form = UserAdminForm
    list_display = ["last_name", "first_name", "email_address", "role", "is_active", "joined"]
    list_filter = ["role", "is_active"]
    search_fields = ["last_name", "first_name", "email"]
    id_code_field = "id_code"  # found by a POSTed form, never in a web address
    ordering = ["last_name", "first_name"]
    list_per_page = 50
    filter_horizontal = ["children"]
    actions = ["resend_login_details", "reset_second_factor", "deactivate", "reactivate"]
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
    # An administrator's own choice of how to hear of new applications.
    notices_fieldset: Any = (
        _("Notices of new applications"),
        {"fields": ["application_notices", "digest_hour"]},
    )

    @admin.display(description=_("ID code"))
    def masked_id_code(self, obj: User) -> str:
        return mask_id_code(obj.id_code)

    @admin.display(description=_("e-mail"), ordering="email")
    def email_address(self, obj: User) -> str:
        # A long address breaks after its "@", not at any letter (the list fits at 1024 px).
        local, at, domain = obj.email.rpartition("@")
        return format_html("{}@<wbr>{}", local, domain) if at else obj.email

    @admin.display(description=_("joined"), ordering="date_joined")
    def joined(self, obj: User) -> str:
        return formats.date_format(timezone.localtime(obj.date_joined), "SHORT_DATE_FORMAT")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.is_administrative:
            fieldsets.insert(1, self.notices_fieldset)
        if getattr(request.user, "is_operator", False):
            return fieldsets
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "school"]})
            for name, opts in fieldsets
        ]

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not change:
            # Admin-site access follows the role, so an operator makes a school administrator
            # by choosing the role; the person gets a password with "Send new login details".
            obj.is_staff = obj.is_superuser or obj.role in (
                User.Role.SCHOOL_ADMIN,
                User.Role.OPERATOR,
            )
            obj.set_unusable_password()
            super().save_model(request, obj, form, change)
            return
        # A new e-mail address, role or state goes through its service, which records it
        # (and tells the person of a new address or role); the rest is saved as typed.
        stored = User.objects.get(pk=obj.pk)
        new_email, new_role, active = obj.email, obj.role, obj.is_active
        obj.email, obj.role, obj.is_active = stored.email, stored.role, stored.is_active
        super().save_model(request, obj, form, change)
        actor: User = request.user  # type: ignore[assignment]
        change_email(user=obj, new_email=new_email, actor=actor)
        if new_role != stored.role:
            change_role(user=obj, new_role=new_role, actor=actor)
        if active != stored.is_active:
            set_account_active(user=obj, active=active, actor=actor)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The children change through their service, which records before and after.
        children = form.cleaned_data.pop("children", None) if change else None
        super().save_related(request, form, formsets, change)
        if children is not None:
            change_children(user=form.instance, children=children, actor=request.user)  # type: ignore[arg-type]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # A fellow administrator's page is for reading only: with their e-mail, password and
        # second factor in hand, one administrator could log in as another.
        if obj is not None and not self._may_change(request, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # A school's administrators deactivate an account, recorded, and never delete one:
        # nothing disappears without a trace. Operators may delete (a person's erasure).
        if not getattr(request.user, "is_operator", False):
            return False
        return super().has_delete_permission(request, obj)

    @staticmethod
    def _may_change(request: HttpRequest, obj: Model) -> bool:
        may_change = getattr(request.user, "may_change_account_of", None)
        return bool(may_change and may_change(obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk == request.user.pk:
            readonly.append("is_active")  # nobody locks themselves out
        if not getattr(request.user, "is_operator", False):
            # Who is an administrator is the operator's decision, not the school's.
            readonly.append("role")
            if obj is not None and obj.is_administrative:
                # An administrator's own account is not a parent's: no children to attach.
                readonly.append("children")
        return readonly

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        # Parent accounts come from approved applications, never typed in by hand.
        return bool(getattr(request.user, "is_operator", False))

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "email" and formfield is not None:
            # Login details and notices go to this address: one the mailer refuses or sends
            # elsewhere (another domain after IDNA) would lose them, or worse.
            formfield.validators.append(validate_deliverable_email)
        return formfield

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "children" and not getattr(request.user, "is_operator", False):
            kwargs["queryset"] = db_field.related_model.objects.filter(school=request.school)  # type: ignore[attr-defined]
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _permitted(self, request: HttpRequest, users: list[User]) -> list[User]:
        """The people of the selection the actor may change; says how many were skipped."""
        permitted = [user for user in users if self._may_change(request, user)]
        skipped = len(users) - len(permitted)
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d person was skipped: only an operator can do this for another "
                    "administrator.",
                    "%(count)d people were skipped: only an operator can do this for other "
                    "administrators.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
        return permitted

    @admin.action(description=_("Send new login details (a new temporary password)"))
    def resend_login_details(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = self._permitted(
            request, list(queryset.filter(is_active=True, school__isnull=False))
        )
        for user in users:
            resend_login_details(user=user, actor=request.user)  # type: ignore[arg-type]
        self.message_user(
            request,
            ngettext(
                "New login details are on their way to %(count)d person; "
                "the old password no longer works.",
                "New login details are on their way to %(count)d people; "
                "their old passwords no longer work.",
                len(users),
            )
            % {"count": len(users)},
            messages.SUCCESS,
        )

    @admin.action(description=_("Deactivate the selected accounts (they can no longer log in)"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(description=_("Activate the selected accounts again"))
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=True)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[User], *, active: bool) -> None:
        actor: User = request.user  # type: ignore[assignment]
        # Nobody deactivates themselves (they would be locked out of the admin at once).
        people = [u for u in self._permitted(request, list(queryset)) if u.pk != actor.pk]
        changed = sum(set_account_active(user=user, active=active, actor=actor) for user in people)
        if active:
            text = ngettext(
                "%(count)d account activated again.", "%(count)d accounts activated again.", changed
            )
        else:
            text = ngettext(
                "%(count)d account deactivated: the person can no longer log in.",
                "%(count)d accounts deactivated: the people can no longer log in.",
                changed,
            )
        self.message_user(request, text % {"count": changed}, messages.SUCCESS)

    @admin.action(description=_("Reset the second factor (a new authenticator app at next login)"))
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = [
            user
            for user in self._permitted(request, list(queryset))
            if reset_second_factor(user=user, actor=request.user)  # type: ignore[arg-type]
        ]
        self.message_user(
            request,
            ngettext(
                "%(count)d person will set up a new authenticator app at their next login.",
                "%(count)d people will set up a new authenticator app at their next login.",
                len(users),
            )
            % {"count": len(users)},
            messages.SUCCESS,
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlySchoolScopedAdmin):
    """The audit trail: readable by the school's administrators, changeable by nobody."""

    list_display = ["at", "actor", "action", "target", "change"]
    list_filter = ["action", "at"]
    search_fields = ["target"]
    list_select_related = ["actor"]
    list_per_page = 100

    @admin.display(description=_("what changed"))
    def change(self, obj: AuditEntry) -> str:
        """What changed, before → after, with the details under it: one column, so that
        the list keeps its words whole at 1024 px."""
        parts = []
        if obj.before or obj.after:
            empty = self.get_empty_value_display()
            parts.append(format_html("{} → {}", obj.before or empty, obj.after or empty))
        if obj.details:
            parts.append(format_html('<span class="audit-details">{}</span>', obj.details))
        if not parts:
            return self.get_empty_value_display()
        return format_html_join("", "{}", ((part,) for part in parts))
