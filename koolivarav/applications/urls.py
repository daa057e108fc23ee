from django.urls import path

from . import views

app_name = "applications"

urlpatterns = [
    path("", views.ApplicationStartView.as_view(), name="start"),
    path("confirm/", views.ApplicationConfirmView.as_view(), name="confirm"),
    path("submitted/", views.ApplicationSubmittedView.as_view(), name="submitted"),
    path("status/", views.ApplicationStatusView.as_view(), name="status"),
    path("status/new-link/", views.ReceiptResendView.as_view(), name="status_resend"),
    path("status/answer/", views.AnswerQuestionView.as_view(), name="status_answer"),
]
