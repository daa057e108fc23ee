from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Argon2id with OWASP's recommended configuration m=19 MiB, t=2, p=1.

    Django's defaults (100 MiB, two passes, eight lanes) take about 150 ms and add 100 MiB
    to a server process for each login in progress, so a handful of simultaneous logins
    exhaust a small school server (measured: a gunicorn worker grows from 68 MB to 116 MB with
    46 MiB; see docs/performance.md). OWASP lists this configuration as giving the same defence
    as its larger-memory ones. The algorithm name stays "argon2": hashes made with other
    parameters still verify, and are re-made with these at the next login.
    """

    time_cost = 2
    memory_cost = 19456
    parallelism = 1
