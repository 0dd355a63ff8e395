from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "comptoir.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from comptoir.accounts import login_guard

        # Every door that signs someone in (ours, the admin site's, a test client's
        # force_login) goes through Django's `login()`: the session is stamped there, so the
        # middleware never has to write it or query for it later.
        user_logged_in.connect(login_guard.stamp_new_session, dispatch_uid="comptoir-stamp")
        # ... and recorded in the audit log, as is every sign-out.
        user_logged_in.connect(login_guard.record_sign_in, dispatch_uid="comptoir-audit-in")
        user_logged_out.connect(login_guard.record_sign_out, dispatch_uid="comptoir-audit-out")
