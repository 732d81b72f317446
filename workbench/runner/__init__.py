"""Running models over datasets: scheduling, limits, retries, resume, cache, progress."""
