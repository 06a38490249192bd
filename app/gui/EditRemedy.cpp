#include "app/gui/EditRemedy.h"

#include <QCoreApplication>

#include "engine/edit/EditProblem.h"
#include "engine/edit/methods/MethodTable.h"

namespace kme::app {

QString editRemedy(const kme::EditSetupError& error) {
    const auto tr = [](const char* text) { return QCoreApplication::translate("EditRemedy", text); };
    const kme::MethodInfo* info = kme::findMethod(error.method());
    const QString method = info ? QString::fromUtf8(info->displayName) : tr("the method's");
    switch (error.problem()) {
        case kme::EditProblem::NoLayer:
            return tr("choose the %1 layer in the Edit tab (Locate shows where the fact is read), or name a default "
                      "in the model folder's kme_edit_defaults.json")
                .arg(method);
        case kme::EditProblem::NoStatsCorpus:
            return tr("switch off “Key statistics” under Advanced hyper-parameters to use the identity, or name a "
                      "corpus in the model folder's kme_edit_defaults.json");
        case kme::EditProblem::SingularStatistics:
            return tr("switch off “Key statistics” under Advanced hyper-parameters, or name a larger corpus in the "
                      "model folder's kme_edit_defaults.json");
        case kme::EditProblem::StaleStatisticsCache:
            return tr("delete that file to recompute them, or switch off “Key statistics” under Advanced "
                      "hyper-parameters");
        case kme::EditProblem::NoSteps: return tr("leave the step count of %1 at its default").arg(method);
    }
    return {};
}

}  // namespace kme::app
