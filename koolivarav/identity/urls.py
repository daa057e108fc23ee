from django.urls import path

from . import views

app_name = "identity"

urlpatterns = [
    path("<slug:provider>/start/", views.StartView.as_view(), name="start"),
    # Registered with the provider as https://<school host>/identity/<provider>/callback/.
    path("<slug:provider>/callback/", views.CallbackView.as_view(), name="callback"),
]
