"""Lambda code that runs the database migrations as a one-off ECS task during a deploy."""
