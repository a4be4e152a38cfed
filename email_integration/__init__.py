"""Email integration: inbound mail to tickets and outbound notifications.

Inbound: ``services`` (the pipeline), ``parsing``, ``loops``, ``authentication`` and
``reply_tokens`` (who may act as whom), ``fetchers`` (IMAP, POP3). Outbound: ``outbound``.
"""
