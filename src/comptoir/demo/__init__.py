"""Demo data for `comptoir demo`: a seller, its shops and channels, and months of history.

Plain module package (no models). `generate` builds the data; `phrases` holds the texts.
"""
