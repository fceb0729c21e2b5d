from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from jobs.views import cluster, health, metrics
from jobsite.accounts import PasswordChangeView, ThrottledLoginView, invitation_accept

urlpatterns = [
    path("admin/cluster/", cluster.cluster_page, name="admin-cluster"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/", include("jobsite.api.urls")),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("account/password/", PasswordChangeView.as_view(), name="password-change"),
    path("invitations/accept/", invitation_accept, name="invitation-accept"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("templates_app.urls")),
    path("", include("jobs.urls")),
]

if settings.JOBSITE_BENCH_VIEWS:  # the benchmarks' bare baseline view (bench/bare_view.py)
    urlpatterns.insert(0, path("bench/", include("bench.bare_view")))
