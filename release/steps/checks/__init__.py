"""The one check registry: every row of preflight, publish's preflight, staging.validate and verify.

Rules:
- ``registry.ROWS`` is one ordered table; a row names the stages it applies to (``stage.Stage``) and,
  for a stage, whether the target has it at all. ``registry.listed`` is what a dry run shows and
  ``registry.run`` what the real run asks, both read from the same rows, so they cannot disagree.
- A row is asked with the run's ``subject.Subject`` (what every row of one run reads, each fetched
  once); its ``cause`` says why it is skipped (an endpoint it reads is silent, the gate is closed),
  and a ReleaseError inside it is its detail, never an exit without the table.
- One module per group of rows: ``checklist`` (preflight's own rows), ``served`` (what verify asks of a channel), ``beta`` (what
  staging.validate asks of staging), ``shared`` (``signature``, ``grpc``: every stage that has
  them); ``reachable`` lives with the table it reads. Adding a check is one entry in ``ROWS``.
"""
