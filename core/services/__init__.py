"""Domain services: one function per business action, each in one transaction."""
