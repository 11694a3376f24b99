"""Django's settings as Celery reads them (config/celery.py): a dict, taken once, when
Celery first looks at its configuration.

Celery looks a few settings up at every message it sends, each under several names
(with and without the CELERY_ prefix, old and new); read through Django's settings
object, each name it lacks costs a raised and caught AttributeError. From a dict, a
miss is cheap. Settings changed after Celery has loaded them are not seen: Celery's
own configuration (`app.conf`) is what to change at run time.
"""

from typing import Any

from django.conf import settings

SETTINGS: dict[str, Any] = {
    name: getattr(settings, name) for name in dir(settings) if name.isupper()
}
