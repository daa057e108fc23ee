from django.contrib.admin.apps import AdminConfig


class KoolivaravAdminConfig(AdminConfig):
    default_site = "koolivarav.accounts.admin_site.SchoolAdminSite"
