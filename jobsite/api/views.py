"""The base of every v1 API view."""

from rest_framework.views import APIView

from jobsite.api.throttling import add_rate_limit_headers


class WorkspaceAPIView(APIView):
    """Base of the v1 views. `self.workspace` is the resolved workspace: every queryset
    starts from it."""

    required_roles = {}

    @property
    def tenant(self):
        return self.request.tenant

    @property
    def workspace(self):
        return self.request.tenant.workspace

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_rate_limit_headers(request, response)
        return response
