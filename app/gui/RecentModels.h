#pragma once
// The "Recent models" list, most recent first, kept in QSettings under
// "recent/models" (at most kMax folders, no duplicates).
#include <QStringList>

namespace kme::app {

class RecentModels {
public:
    static constexpr int kMax = 8;

    static QStringList folders();
    // Puts `folder` first (moving it if present) and trims the list.
    static void add(const QString& folder);
    static void remove(const QString& folder);
    static void clear();
};

}  // namespace kme::app
