"""The grid's read model: pages, filters, counts and the curated view of results and annotations."""
