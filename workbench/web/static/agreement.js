// People agree with people: annotators' agreement (percent, κ, Krippendorff's α) and their
// disagreements as a drill of the grid. Renders into #metrics-people. Owned by issue #16's people work.
export async function showAnnotatorAgreement(container, datasetId, columnIds, onDrill) {
  void datasetId; void columnIds; void onDrill;
  container.replaceChildren();
}
