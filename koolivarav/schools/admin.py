from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, translation
from django.utils.functional import cached_property
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin

from .admin_lists import DeclaredLookupsOnly, NoIdCodesInSearch
from .forms import (
    FindByIdCodeForm,
    SchoolAdminForm,
    StudentAdminForm,
    StudentExportForm,
    StudentImportForm,
)
from .idcodes import mask_id_code
from .models import CONTACT_FIELDS, IDENTITY_FIELDS, School, SchoolHost, Student, StudentImport
from .resources import COLUMN_ALIASES, StudentResource
from .services import (
    end_stalled_imports,
    import_checked_file,
    queue_student_import,
    set_students_studying,
)
from .spreadsheets import StudentCSV, StudentXLSX


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


def _number(count: int) -> str:
    return str(formats.number_format(count, force_grouping=True))


def import_progress(student_import: StudentImport) -> str:
    """Where an import is, in a sentence for its page: "Checked 12 000 of 100 000 rows…"."""
    State = StudentImport.State
    total = student_import.total_rows or 0
    if student_import.state == State.CHECKING:
        return ngettext(
            "Checked %(checked)s of %(total)s row…",
            "Checked %(checked)s of %(total)s rows…",
            total,
        ) % {"checked": _number(student_import.rows_checked), "total": _number(total)}
    if student_import.state == State.SAVING:
        return ngettext("Saving %(total)s row…", "Saving %(total)s rows…", total) % {
            "total": _number(total)
        }
    if student_import.state == State.QUEUED:
        return gettext("Waiting for the worker to start…")
    if student_import.state == State.READING:
        return gettext("Reading the file…")
    return str(student_import.get_state_display())


def _is_operator(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_operator", False))


class SchoolScopedAdmin(DeclaredLookupsOnly, NoIdCodesInSearch, admin.ModelAdmin):
    """A model admin that shows a school's administrator only their own school's rows.

    `school_field` names the path from the model to its school. Operators see every school.
    `id_code_field`, when set, adds a "find by ID code" box to the list: the code is POSTed
    and the answer is the matching row's page, so the code appears in no web address.
    """

    school_field = "school"
    id_code_field: str | None = None
    find_by_id_code_template = "admin/find_by_id_code_change_list.html"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.id_code_field and self.change_list_template is None:
            self.change_list_template = self.find_by_id_code_template  # type: ignore[misc]

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

    # --- find by ID code ------------------------------------------------------------------

    def id_code_search_advice(self) -> str:
        if not self.id_code_field:
            return super().id_code_search_advice()
        return gettext(
            "ID codes are not searched in the search box, so that they stay out of web "
            "addresses and logs. Use “Find by ID code” instead."
        )

    def get_urls(self) -> list[Any]:
        urls: list[Any] = super().get_urls()
        if not self.id_code_field:
            return urls
        opts = self.model._meta
        find: URLPattern = path(
            "find-by-id-code/",
            self.admin_site.admin_view(self.find_by_id_code_view),
            name=f"{opts.app_label}_{opts.model_name}_find_by_id_code",
        )
        return [find, *urls]

    def find_by_id_code_view(self, request: HttpRequest) -> HttpResponse:
        """The rows of this list with the POSTed ID code: one opens, several are listed."""
        opts = self.model._meta
        changelist = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name
        )
        if request.method != "POST" or not self.has_view_permission(request):
            return HttpResponseRedirect(changelist)
        form = FindByIdCodeForm(request.POST)
        if not form.is_valid():
            for error in form.errors.get("id_code", []):
                self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(changelist)
        lookup = {str(self.id_code_field): form.cleaned_data["id_code"]}
        matches = list(self.get_queryset(request).filter(**lookup)[:100])
        if not matches:
            self.message_user(
                request, gettext("Nobody on this list has that ID code."), messages.WARNING
            )
            return HttpResponseRedirect(changelist)
        if len(matches) == 1:
            return HttpResponseRedirect(
                reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change",
                    args=[matches[0].pk],
                    current_app=self.admin_site.name,
                )
            )
        return TemplateResponse(
            request,
            "admin/find_by_id_code_results.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Found by ID code"),
                "opts": opts,
                "matches": matches,
            },
        )


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
class SchoolAdmin(DeclaredLookupsOnly, NoIdCodesInSearch, admin.ModelAdmin):
    """Schools are the operator's. A school's administrator sees only their own school, and
    changes only what parents are told (the office's contact) and whether unconfirmed
    applications wait: never the name, the addresses or the sender."""

    form = SchoolAdminForm
    list_display = ["name", "short_name", "portal_url", "sender_email"]
    search_fields = ["name", "short_name"]
    inlines = [SchoolHostInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "short_name",
                    "portal_url",
                    "sender_email",
                    "notify_admins_of_new_applications",
                    "hold_unconfirmed_applications",
                ]
            },
        ),
        (
            _("Verified identity (TARA, HarID)"),
            {"fields": [*IDENTITY_FIELDS, "admins_require_tara"]},
        ),
        (_("Contact for parents"), {"fields": list(CONTACT_FIELDS)}),
    ]
    # Whether administrators must use TARA is the operator's: an administrator who turned it
    # on without an ID code on their account would lock the school out.
    own_school_fieldsets = [
        (None, {"fields": ["hold_unconfirmed_applications"]}),
        (_("Verified identity (TARA, HarID)"), {"fields": list(IDENTITY_FIELDS)}),
        (_("Contact for parents"), {"fields": list(CONTACT_FIELDS)}),
    ]

    def _own_school(self, request: HttpRequest) -> School | None:
        """The school whose administrator this is and whose portal they are on, or None."""
        school = getattr(request, "school", None)
        administers = getattr(request.user, "administers", None)
        if school is not None and administers and administers(school):
            return school  # type: ignore[no-any-return]
        return None

    def _may_open(self, request: HttpRequest, obj: Model | None) -> bool:
        if _is_operator(request):
            return True
        own = self._own_school(request)
        return own is not None and (obj is None or obj.pk == own.pk)

    def get_queryset(self, request: HttpRequest) -> QuerySet[School]:
        schools = super().get_queryset(request)
        if _is_operator(request):
            return schools
        own = self._own_school(request)
        return schools.filter(pk=own.pk) if own is not None else schools.none()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_open(request, None)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._may_open(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._may_open(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_operator(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_operator(request)

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # The form is built from these fields only: anything else POSTed is ignored.
        return self.fieldsets if _is_operator(request) else self.own_school_fieldsets

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # A portal address typed without a scheme is an HTTPS one (Django 6's default too).
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Model | None) -> Any:
        return self.inlines if _is_operator(request) else []

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # A school's administrator has one school: the list is its page.
        own = self._own_school(request)
        if own is not None and not _is_operator(request):
            page = reverse(
                "admin:schools_school_change", args=[own.pk], current_app=self.admin_site.name
            )
            return HttpResponseRedirect(page)
        return super().changelist_view(request, extra_context)


@admin.register(Student)
class StudentAdmin(ImportExportMixin, SchoolScopedAdmin):
    form = StudentAdminForm
    list_display = ["last_name", "first_name", "class_name", "masked_id_code", "is_active"]
    list_filter = ["is_active", "class_name"]
    # No ID code here: a search travels in the web address. "Find by ID code" POSTs it.
    search_fields = ["last_name", "first_name", "class_name"]
    search_help_text = _(
        "Search by name or class. To find a student by ID code, use “Find by ID code”."
    )
    id_code_field = "id_code"
    list_per_page = 50
    resource_classes = [StudentResource]
    # Ours: limits on reading, spreadsheet formulas neutralised on writing (spreadsheets.py).
    import_formats = [StudentCSV, StudentXLSX]
    export_formats = [StudentCSV, StudentXLSX]
    # The import is ours: the request keeps the file, the worker imports it (import_action).
    import_template_name = "admin/schools/student/import.html"
    export_form_class = StudentExportForm
    export_template_name = "admin/schools/student/export.html"
    import_status_template_name = "admin/schools/student/import_status.html"
    # The import's page shows this many problems, however many the file has.
    shown_problems = 100

    actions = ["mark_not_studying", "mark_studying"]

    @admin.display(description=_("ID code"), ordering="id_code")
    def masked_id_code(self, obj: Student) -> str:
        return mask_id_code(obj.id_code)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # A student leaves the list by "does not study here", recorded, never by deletion:
        # applications, accounts and the audit trail still name them. Operators may delete.
        return _is_operator(request)

    def save_model(self, request: HttpRequest, obj: Student, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Whether the student studies here changes through its service, which records it.
        studying = obj.is_active
        obj.is_active = Student.objects.values_list("is_active", flat=True).get(pk=obj.pk)
        super().save_model(request, obj, form, change)
        self._set_studying(request, [obj], studying=studying)

    def _set_studying(
        self, request: HttpRequest, students: list[Student], *, studying: bool
    ) -> int:
        return set_students_studying(students=students, studying=studying, actor=request.user)

    @admin.action(description=_("Mark as not studying at the school (parents can no longer apply)"))
    def mark_not_studying(self, request: HttpRequest, queryset: QuerySet[Student]) -> None:
        changed = self._set_studying(request, list(queryset), studying=False)
        self.message_user(
            request,
            ngettext(
                "%(count)d student marked as not studying at the school.",
                "%(count)d students marked as not studying at the school.",
                changed,
            )
            % {"count": changed},
            messages.SUCCESS,
        )

    @admin.action(description=_("Mark as studying at the school"))
    def mark_studying(self, request: HttpRequest, queryset: QuerySet[Student]) -> None:
        changed = self._set_studying(request, list(queryset), studying=True)
        self.message_user(
            request,
            ngettext(
                "%(count)d student marked as studying at the school.",
                "%(count)d students marked as studying at the school.",
                changed,
            )
            % {"count": changed},
            messages.SUCCESS,
        )

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

    def get_export_queryset(self, request: HttpRequest) -> QuerySet[Student]:
        # The list's filters and search, and only the school whose portal this is: an
        # operator's list spans schools, but an export (like an import) is one school's.
        return super().get_export_queryset(request).filter(school=request.school)  # type: ignore[attr-defined]

    # --- the import, by the worker --------------------------------------------------------

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "import/<int:pk>/",
                self.admin_site.admin_view(self.import_status_view),
                name="schools_student_import_status",
            ),
            path(
                "import/<int:pk>/progress/",
                self.admin_site.admin_view(self.import_progress_view),
                name="schools_student_import_progress",
            ),
        ]
        return [*own, *super().get_urls()]

    def _imports(self, request: HttpRequest) -> QuerySet[StudentImport]:
        """The imports into the school whose portal this is (one school's, as the import)."""
        if not self.has_import_permission(request):
            return StudentImport.objects.none()
        # An import whose worker died mid-way is shown as failed, not as running for ever.
        end_stalled_imports(school=request.school)  # type: ignore[attr-defined]
        return StudentImport.objects.filter(school=request.school).defer("data")  # type: ignore[attr-defined]

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """The upload: the file is kept and its import queued; its page shows the rest."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        posted = request.method == "POST"
        form = StudentImportForm(
            request.POST if posted else None,
            request.FILES if posted else None,
            upload_too_large=posted and getattr(request, "upload_too_large", False),
        )
        if posted and form.is_valid():
            upload = form.cleaned_data["import_file"]
            student_import = queue_student_import(
                school=request.school,  # type: ignore[attr-defined]
                uploaded_by=request.user,
                file_name=upload.name,
                data=upload.read(),
                check_only=form.cleaned_data["check_only"],
                language=translation.get_language() or settings.LANGUAGE_CODE,
            )
            return HttpResponseRedirect(self._status_url(student_import))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import the student list"),
            "opts": self.model._meta,
            "form": form,
            "columns": COLUMN_ALIASES,
            "recent": list(self._imports(request)[:5]),
            "max_rows": _number(settings.STUDENT_FILE_MAX_ROWS),
        }
        return TemplateResponse(request, self.import_template_name, context)

    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        # django-import-export's confirmation step: the worker's import has none.
        return HttpResponseRedirect(
            reverse("admin:schools_student_import", current_app=self.admin_site.name)
        )

    def _status_url(self, student_import: StudentImport) -> str:
        return reverse(
            "admin:schools_student_import_status",
            args=[student_import.pk],
            current_app=self.admin_site.name,
        )

    def import_status_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """How an import is doing, and what came of it (problems by row)."""
        student_import = get_object_or_404(self._imports(request), pk=pk)
        if request.method == "POST" and "import_now" in request.POST:
            if not import_checked_file(student_import=student_import):
                self.message_user(
                    request,
                    gettext("This file is no longer waiting to be imported."),
                    messages.WARNING,
                )
            return HttpResponseRedirect(self._status_url(student_import))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import of the student list"),
            "opts": self.model._meta,
            "student_import": student_import,
            "progress": import_progress(student_import),
            "problems": student_import.problems[: self.shown_problems],
            "more_problems": max(student_import.problem_count - self.shown_problems, 0),
        }
        return TemplateResponse(request, self.import_status_template_name, context)

    def import_progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The import's progress for its page's script (polled while it runs)."""
        student_import = get_object_or_404(self._imports(request), pk=pk)
        progress = import_progress(student_import)
        return JsonResponse(
            {
                "running": student_import.is_running,
                "state": student_import.state,
                "total": student_import.total_rows or 0,
                "checked": student_import.rows_checked,
                "text": progress,
            }
        )

    def has_import_permission(self, request: HttpRequest) -> bool:
        return self._administers(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self._administers(request)
