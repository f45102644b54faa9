"""Settings for the command row of bench/verify_emails.py: the project's, with a cold cache.

The embedded mode's file cache would keep the MX answers of an earlier run for a day; the
benchmark compares cold runs, so the command gets a private in-memory cache instead.
"""

from config.settings import *  # noqa: F403

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "bench"}
}
