"""What each app holds about a person: one module per app label, loaded by
``PrivacyConfig.ready`` when that app is installed (see ``privacy.registry``)."""
