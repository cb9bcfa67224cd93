"""Planning: decides a target lane and a target speed from the scene state."""
