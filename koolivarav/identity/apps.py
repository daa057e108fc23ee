from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    """Verified identity: logging in and applying through TARA (ID-card, Mobile-ID, Smart-ID,
    eIDAS) and HarID, OpenID Connect providers outside the installation."""

    name = "koolivarav.identity"
    verbose_name = _("Verified identity")
