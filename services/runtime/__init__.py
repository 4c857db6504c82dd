"""What runs a processor: its context, the unit of work and the batch runner."""
