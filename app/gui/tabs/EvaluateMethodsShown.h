#pragma once
// Private to the Evaluate tab's several-methods page: the comparison shown
// (EvaluateMethodsPanel.cpp runs and saves it, EvaluateMethodsResults.cpp
// shows, reads back and exports it) and the helpers both use.
#include <QColor>
#include <QPalette>
#include <QString>
#include <QTableWidgetItem>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/gui/tabs/EvaluateMethodsPanel.h"
#include "engine/edit/methods/MethodTable.h"

namespace kme::app {
namespace methods_page {
using json = nlohmann::json;



// The six properties' keys in a run's "six", in table order (the columns).
struct PropertyColumn {
    const char* key;
    const char* label;
    const char* tip;
};
inline const std::vector<PropertyColumn>& propertyColumns() {
    static const std::vector<PropertyColumn> columns = {
        {"accuracy", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "accur."),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Efficacy: the new answer beats the old on the edit's own prompt (%)")},
        {"generality", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "general."),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Paraphrase score: paraphrased prompts follow the edit (%)")},
        {"locality", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "locality"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Neighbourhood score: other subjects keep their answers (%)")},
        {"other_attributes", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "other"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Locality on the edited subject's other facts (%)")},
        {"portability", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "portab."),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Two-hop prompts whose answer changes with the edit follow it (%)")},
        {"portability_unedited", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "2-hop"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel",
                           "The unedited model's two-hop accuracy: a model that cannot answer the two-hop question "
                           "before the edit cannot port it after (%)")},
        {"retainability", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "retain"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel",
                           "Efficacy on all N edits after N sequential edits: earlier edits survive later ones (%)")},
        {"scalability", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "scale"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel",
                           "Efficacy when the records are edited in batches of the largest size (batch methods) (%)")}};
    return columns;
}

inline double numberOr(const json& j, const char* key, double fallback = std::nan("")) {
    if (!j.is_object()) return fallback;
    const auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

inline QTableWidgetItem* cellItem(const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

inline QString displayName(const std::string& name) {
    const kme::MethodInfo* row = kme::findMethod(name);
    return QString::fromUtf8(row ? row->displayName : name.c_str());
}

}  // namespace methods_page

struct EvaluateMethodsPanel::Shown {
    QString id;        // the comparison id (its start time)
    QString factFile;
    int records = 0;
    bool editsApplied = false;
    std::vector<std::string> names;  // methods, in run order
    std::vector<nlohmann::json> runs;          // each: evalRunToJson (compact) + "retain" / "scale" / "six"
    // The inputs it ran with, as saved (a comparison read back shows them in the controls).
    std::string selection;                     // "spread" | "first" | "random" ("" unknown)
    bool retain = false, scale = false;        // the curves asked for
};

}  // namespace kme::app
