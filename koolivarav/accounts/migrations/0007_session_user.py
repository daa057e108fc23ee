"""The logged-in user's id beside each session (koolivarav.accounts.sessions).

A column of Django's own session table, not a model field: the sessions app keeps its model,
and every other reader and writer of sessions (the test client, clearsessions, housekeeping)
goes on working; this store fills the column and reads the session and its user in one query.
No foreign key: a session of a deleted user simply finds no user, as before.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_recovery_codes_audit"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql="ALTER TABLE django_session ADD COLUMN user_id bigint NULL",
            reverse_sql="ALTER TABLE django_session DROP COLUMN user_id",
        ),
    ]
