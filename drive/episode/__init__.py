"""One episode: the closed loop, the stack it drives, what it records and how it is scored."""
