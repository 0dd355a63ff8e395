"""Marketplace account health: each marketplace channel's late-shipment, cancellation,
late-response, claims and valid-tracking rates against the marketplace's published thresholds
(`thresholds`), with a weekly trend and a warning before a threshold is crossed
(docs/metrics.md, "Account health")."""
