from django.http import HttpResponse
from django.views.decorators.http import require_GET


@require_GET
def home(request):
    return HttpResponse("jobsite is running. The dashboard arrives with the web UI issue; see /admin/ and README.md.")
