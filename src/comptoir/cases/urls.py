from django.urls import path

from comptoir.cases import views

app_name = "cases"

urlpatterns = [
    path("", views.case_index, name="list"),
    path("open/<int:conversation_pk>/", views.open_case, name="open"),
    path("<int:pk>/stage/", views.set_stage, name="stage"),
    path("<int:pk>/outcome/", views.record_outcome, name="outcome"),
    path("<int:pk>/deadline/", views.set_deadline, name="deadline"),
    path("<int:pk>/close/", views.close_case, name="close"),
]
