#pragma once
// Turns the engine's TraceResult (a torch-free header) into the plain data
// the heatmap widgets draw. Used by the Locate tab (also for the partial
// results of a running trace) and by the command line's PNG renderer.
#include <QVector>

#include "engine/trace/CausalTrace.h"
#include "widgets/TraceHeatmapData.h"

namespace kme::render {

// One entry per traced kind, in the order hidden, mlp, attn (whichever were
// traced). Rows not computed yet stay NaN. Thread-safe (plain copies): a
// worker thread may call it on a partial result.
QVector<kme::widgets::TraceHeatmapData> traceHeatmapData(const kme::TraceResult& result);

}  // namespace kme::render
