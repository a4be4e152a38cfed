"""The toolkit every app imports: helpers with no domain of their own.

What belongs here is code that the core app and the feature apps (sla, knowledge,
forms_builder, email_integration, eventlog) would otherwise each write for themselves:

- ``auth``: who is asking (``signed_in_user``) and who may act (``require_agent``,
  ``require_admin``, ``is_admin``);
- ``admin``: role-based admin permissions, the read-only inline and record admin, showing
  a service's refusal as a form error, list-column counts and message helpers;
- ``config_admin``: admin pages of configuration saved and deleted through services
  (``ConfigurationAdmin``, ``ServiceDeleteMixin``);
- ``downloads``: serving stored files so that no browser runs them (``attachment_response``);
- ``errors``: the text a person reads for a ``ValidationError`` or ``PermissionDenied``;
- ``panels``: panels feature apps add to the ticket's admin page;
- ``quotas``: storage quotas of comment attachments per user and per ticket;
- ``filters``: query-string filters with no domain (``UTCDateTimeFilter``);
- ``services``: ``model_update``, the diff-set-save step of every ``<thing>_update``,
  and ``changes_payload``/``payload_value`` for the event it records.

What does not belong here: anything about tickets, workflows or users as a domain (that
is the core app, ``nixflow.models``/``services``/``selectors``/...), and the project's
plumbing (settings, schema guard, health, embedded database: ``nixflow.platform``).
Modules here may import the core's models (roles live on ``User``) but no feature app.
"""
