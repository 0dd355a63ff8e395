from django.urls import path

from comptoir.care import views

app_name = "care"

urlpatterns = [
    path("", views.at_risk, name="list"),
    path("send/", views.send, name="send"),
]
