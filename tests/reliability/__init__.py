"""No reading lost: the fault-injection suite."""
