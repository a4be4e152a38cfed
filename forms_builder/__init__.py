"""Form builder: staff-designed forms whose submissions become tickets (SPEC section 4)."""
