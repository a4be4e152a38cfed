"""SLA management: business-hours clocks, breach monitor and dashboard (SPEC section 2)."""
