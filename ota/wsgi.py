"""WSGI entry point (gunicorn ota.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ota.settings")
application = get_wsgi_application()
