from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from koolivarav.accounts.views import HomeView
from koolivarav.operations import views as operations
from koolivarav.schools.views import health

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("", include("koolivarav.accounts.urls")),
    path("apply/", include("koolivarav.applications.urls")),
    path("identity/", include("koolivarav.identity.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    # Answered by OperationsEndpointsMiddleware before the stack; named here for reverse()
    # and `manage.py health_check health_ready --no-http`.
    path("health/live", operations.live, name="health_live"),
    path("health/ready", operations.ready, name="health_ready"),
]

handler500 = "koolivarav.schools.views.server_error"
