#include "app/gui/RecentModels.h"

#include <QDir>
#include <QSettings>

namespace kme::app {

namespace {
const char* const kKey = "recent/models";

void store(const QStringList& list) { QSettings().setValue(kKey, list); }
}  // namespace

QStringList RecentModels::folders() {
    QStringList list = QSettings().value(kKey).toStringList();
    list.removeAll(QString());
    return list.mid(0, kMax);
}

void RecentModels::add(const QString& folder) {
    const QString clean = QDir::cleanPath(QDir(folder).absolutePath());
    QStringList list = folders();
    list.removeAll(clean);
    list.prepend(clean);
    store(list.mid(0, kMax));
}

void RecentModels::remove(const QString& folder) {
    QStringList list = folders();
    list.removeAll(QDir::cleanPath(QDir(folder).absolutePath()));
    store(list);
}

void RecentModels::clear() { store({}); }

}  // namespace kme::app
