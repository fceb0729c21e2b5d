import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")
try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    # gunicorn would print a traceback and retry forever; say what is wrong, once.
    sys.stderr.write(f"configuration error: {exc}\n")
    sys.exit(4)
