#pragma once
// What the Evaluate tab keeps of one finished run (EvaluateTab.cpp runs it,
// EvaluateTabResults.cpp shows and saves it). Private to the tab.
#include <QString>
#include <nlohmann/json.hpp>
#include <string>

#include "app/gui/tabs/EvaluateTab.h"
#include "engine/eval/EvalJson.h"

namespace kme::app {

// One finished evaluation, kept for the chart (and saved in the session).
struct EvaluateTab::Run {
    QString label;       // "ROME", "ROME, sequential" (a second alike: "ROME #2")
    QString methodText;  // "ROME"
    QString factFile;
    int requested = 0;       // records asked for
    QString hash;            // the live weights evaluated (full hash)
    bool editsApplied = false;
    QString created;         // ISO 8601 UTC when saved in the session ("" not saved)
    nlohmann::json params;   // the tab's settings (MetricRunRecord::paramsJson)
    std::string resultsJson; // kme::evalRunToJson (MetricRunRecord::resultsJson)
    kme::EvalRunSummary summary;  // read back from resultsJson: what the table and the chart show
};


// Fresh runs whose batch holds every record are "one batch".
inline bool oneBatch(const kme::EvalRunSummary& s) {
    return s.mode == kme::EvalMode::Fresh && s.batchSize > 1 && s.batchSize >= s.recordCount;
}

}  // namespace kme::app
