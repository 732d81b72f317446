// Bulk actions (Bulk…): mark every record under the current filter at once, after a count and a
// confirmation; one undoable group in the log. Fills #bulk-dialog. Owned by the grid work (issue #16).
export function setupBulk(ctx) {
  // ctx: { datasetId(), viewParams() -> URLSearchParams of the grid's current query (no cursor/limit),
  //        columns() -> [{id, label, run_id}], reload(), toast(msg, kind) }
  void ctx;
}
