"""What runs without a person: webhook deliveries, schedules, retention."""
