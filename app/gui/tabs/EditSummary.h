#pragma once
// What one Run of the Edit tab computes and shows: the run's data (the
// compute and apply jobs fill it) and the summary HTML (p(new) / p(true)
// before and after, what changed, the weights hash before and after).
#include <QPalette>
#include <QString>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/edit/EditMethod.h"
#include "engine/edit/methods/MethodTable.h"

namespace kme {
class Model;
struct EditRecord;
struct RequestScore;
}  // namespace kme

namespace kme::app {

// p(target_new), p(target_true) of one request; NaN for an unknown target_true.
struct RequestProbs {
    double pNew = std::numeric_limits<double>::quiet_NaN();
    double pTrue = std::numeric_limits<double>::quiet_NaN();
};

// The engine's scores (engine/edit/EditWorkflow.h) with NaN for an unknown target_true.
RequestProbs requestProbs(const kme::RequestScore& score);

// One Run: what the compute job and the apply job hand to the summary.
struct EditRun {
    kme::EditMethod method = kme::defaultMethod().method;
    std::vector<kme::EditRequest> requests;  // normalized
    std::shared_ptr<kme::EditResult> result;
    std::vector<RequestProbs> before, after;
    QString hashBefore;
    std::string statsLabel;
};

// The model's answer in a greedy continuation: up to the first punctuation
// or line break (" San Francisco." -> " San Francisco").
std::string answerOf(const std::string& continuation);

// The summary of a finished run (record: its session record, nullptr if unknown).
QString editSummaryHtml(const EditRun& run, const kme::EditRecord* record, const QString& hashAfter, const QPalette& pal);

}  // namespace kme::app
