#pragma once
// Turns the engine's TraceDatasetResult (a torch-free header) into the plain
// data the dataset-average plot draws. Used by the Locate tab (also for the
// growing averages of a running job) and by `kme trace-dataset --png`.
#include <QString>

#include "engine/trace/TraceDataset.h"
#include "widgets/TraceDatasetPlotData.h"

namespace kme::render {

// One curve set per traced kind, in the order hidden, mlp, attn (whichever
// were traced). Buckets with no facts at a layer (count 0) become NaN (a gap,
// not a zero). `source` names the fact set in the title (e.g. "facts.json").
// Thread-safe (plain copies).
kme::widgets::TraceDatasetPlotData traceDatasetPlotData(const kme::TraceDatasetResult& result,
                                                        const QString& source = {});

}  // namespace kme::render
