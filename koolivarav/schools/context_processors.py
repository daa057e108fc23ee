from django.http import HttpRequest

from .models import School


def school(request: HttpRequest) -> dict[str, School | None]:
    return {"school": getattr(request, "school", None)}
