from django.urls import path

from comptoir.cases import operation_views, views

app_name = "cases"

urlpatterns = [
    path("", views.case_index, name="list"),
    path("open/<int:conversation_pk>/", views.open_case, name="open"),
    path("<int:pk>/stage/", views.set_stage, name="stage"),
    path("<int:pk>/outcome/", views.record_outcome, name="outcome"),
    path("<int:pk>/deadline/", views.set_deadline, name="deadline"),
    path("<int:pk>/close/", views.close_case, name="close"),
    path("<int:pk>/answer/", operation_views.answer, name="answer"),
    path("<int:pk>/refund/", operation_views.refund, name="refund"),
    path("<int:pk>/close-claim/", operation_views.close_claim, name="close_claim"),
    path("<int:pk>/return/", operation_views.return_decision, name="return_decision"),
    path("steps/<int:pk>/retry/", operation_views.retry, name="retry_operation"),
]
