// The judge (⚖ Judge): pick two columns and a judge model, edit the rubric, start it, and see how far
// its verdicts agree with people's. Fills #judge-dialog. Owned by the judge work (issue #16).
export function setupJudge(ctx) {
  // ctx: { datasetId(), columns() -> [{id, label, run_id, model_id}], models() -> configured models,
  //        reload(), toast(msg, kind) }
  void ctx;
}
