"""Every e-mail the product sends, with a context like the one its sender gives it: the
e-mail tests render each one, parse it with the standard library and open its HTML part in
a browser."""

from pathlib import Path

from django.conf import settings

# template → context (the preparers' values, a password or a link, included).
SAMPLES: dict[str, dict] = {
    "accounts/email/application_digest": {
        "waiting": 3,
        "matching": 1,
        "more": 1,
        "hour": 8,
        "queue_url": "https://jpk.example.ee/admin/applications/application/?status__exact=pending",
        "matching_url": (
            "https://jpk.example.ee/admin/applications/application/?status__exact=pending&records=all"
        ),
        "lines": [
            {
                "submitted": "29.11.2026 10:09",
                "children": 2,
                "records": "all",
                "confirmed": True,
                "identity_method": "smartid",
                "url": "https://jpk.example.ee/admin/applications/application/41/change/",
            },
            {
                "submitted": "28.11.2026 16:45",
                "children": 1,
                "records": "none",
                "confirmed": False,
                "identity_method": "",
                "url": "https://jpk.example.ee/admin/applications/application/40/change/",
            },
        ],
    },
    "accounts/email/login_details": {"password": "78ecd619"},
    "accounts/email/children_added": {
        "children": ["Kärt Maasikas (3.b)", "Jüri Maasikas (7.a)"],
    },
    "accounts/email/email_changed": {"changed_by": "school", "changed_at": "29.11.2026 10:42"},
    "accounts/email/password_reset": {
        "reset_url": "https://jpk.example.ee/password/reset/MQ/cn4x2a-0123456789abcdef/",
    },
    "accounts/email/role_changed": {"role": "school_admin", "changed_at": "29.11.2026 10:42"},
    "accounts/email/second_factor_reset": {
        "changed_by": "operator",
        "changed_at": "29.11.2026 10:42",
    },
    "applications/email/another_application": {"submitted": "28.11.2026"},
    "applications/email/answered": {
        "application_url": "https://jpk.example.ee/admin/applications/application/42/change/",
    },
    "applications/email/new_application": {
        "review_url": "https://jpk.example.ee/admin/applications/application/",
    },
    "applications/email/receipt": {
        "first_name": "Mari",
        "last_name": "Maasikas",
        "children_count": 2,
        "held": True,
        "status_url": "https://jpk.example.ee/applications/status/?link=AbC.dEf-123",
        "link_days": 7,
    },
    "applications/email/partly_approved": {
        "added": ["Kärt Maasikas (3.b)"],
        "declined": [
            {"child": "Jüri Maasikas (7.a)", "reason": "Kooli andmetes <ei ole> sind & märgitud."}
        ],
        "new_account": True,
    },
    "applications/email/question": {
        "question": "Palun saada hooldusõiguse <otsuse> koopia & kantseleisse.",
        "status_url": "https://jpk.example.ee/applications/status/?t=AbC.dEf-123",
        "link_days": 7,
    },
    "applications/email/rejected": {
        "first_name": "Mari",
        "reason": "Kärt Maasikas <ei õpi> meie koolis & ei ole meie nimekirjas.",
    },
}


def email_templates() -> list[str]:
    """Every e-mail template of the product (`<app>/email/<name>`, from its `.txt`)."""
    root = Path(settings.BASE_DIR) / "koolivarav"
    found = []
    for text in root.glob("*/templates/*/email/*.txt"):
        if text.name.endswith(".subject.txt"):
            continue
        found.append(f"{text.parent.parent.name}/email/{text.stem}")
    return sorted(found)
