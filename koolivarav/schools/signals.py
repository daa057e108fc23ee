from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from .models import School, SchoolHost
from .pagecache import forget_pages
from .selectors import forget_hosts


@receiver([post_save, post_delete], sender=School)
@receiver([post_save, post_delete], sender=SchoolHost)
def _forget_hosts(**kwargs: Any) -> None:
    # In this process at once; other processes within HOST_CACHE_SECONDS.
    forget_hosts()
    forget_pages()


# Sent when an administrator marks students as (not) studying at the school, inside the
# change's transaction: accounts records it in the audit trail (schools imports no other app).
# Arguments: school, students (a list), studying (True or False), actor (the administrator).
students_activity_changed = Signal()
