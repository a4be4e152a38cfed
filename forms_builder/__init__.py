"""Form builder: staff-designed forms, published as pages and through the API, whose
submissions become tickets."""
