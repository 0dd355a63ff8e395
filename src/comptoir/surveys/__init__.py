"""Satisfaction surveys after a conversation is resolved: CSAT (1-5) or NPS (0-10).

`policy` says where a survey may go (by email, or by a marketplace message only where that
marketplace's rules allow it); `tasks` sends the due ones through the inbox's reply action;
`views` is the public answer page (signed link, no login, no script) and the settings page;
`metrics` gives CSAT, NPS and the response rate over a period.
"""
