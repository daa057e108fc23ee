from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Argon2id with OWASP's first recommended configuration: 46 MiB, one pass, one lane.

    Django's defaults (100 MiB, two passes, eight lanes) take about 150 ms and 100 MiB per
    login on our two-core machines, so a few simultaneous logins exhaust a small server. The
    algorithm name stays "argon2": hashes made with other parameters still verify, and are
    re-made with these at the next login.
    """

    time_cost = 1
    memory_cost = 47104
    parallelism = 1
