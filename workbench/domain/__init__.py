"""Pure logic: datasets, tasks, comparison, annotations, exports. No web, no SQL."""
