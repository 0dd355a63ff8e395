"""Another help desk's history imported into a shop of its own (`comptoir import-history`).

- `mapping`: the fields a row maps to, the presets (Zendesk, Freshdesk, Gorgias), and a row
  turned into an `InboundMessage`;
- `sources`: CSV, JSON lines and mbox files read one row (or one mail) at a time;
- `importer`: the shop and its channels, the bulk ingest, the bad rows, then triage.
"""
