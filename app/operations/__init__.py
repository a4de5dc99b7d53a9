"""Long-running operations and the worker that advances them."""
