"""Single sign-on: staff and requesters sign in with the organisation's OpenID provider."""
