"""Email integration: inbound mail to tickets and outbound notifications (SPEC section 5)."""
