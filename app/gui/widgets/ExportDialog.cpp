#include "app/gui/widgets/ExportDialog.h"

#include <QCoreApplication>
#include <QFileDialog>
#include <QFileInfo>
#include <QStringList>

namespace kme::app {

namespace {

QString tr(const char* text) { return QCoreApplication::translate("ExportDialog", text); }

// The dialog with `filters` (each "Name (*.ext)"): the path, with the chosen filter's suffix when it has none.
QString askPath(QWidget* parent, const QString& title, const QString& suggestedName, const QStringList& filters) {
    QString selected;
    QString path = QFileDialog::getSaveFileName(parent, title, suggestedName, filters.join(QStringLiteral(";;")),
                                                &selected);
    if (path.isEmpty() || !QFileInfo(path).suffix().isEmpty()) return path;
    const int star = selected.indexOf(QStringLiteral("*."));
    const QString suffix = star >= 0 ? selected.mid(star + 1).section(QLatin1Char(')'), 0, 0) : QString();
    return path + (suffix.isEmpty() ? QStringLiteral(".png") : suffix);
}

}  // namespace

QString askPictureExportPath(QWidget* parent, const QString& title, const QString& suggestedName) {
    return askPath(parent, title, suggestedName,
                   {tr("PNG image (*.png)"), tr("PDF document (*.pdf)"), tr("SVG drawing (*.svg)")});
}

QString askCsvExportPath(QWidget* parent, const QString& title, const QString& suggestedName) {
    return askPath(parent, title, suggestedName, {tr("CSV table (*.csv)")});
}

}  // namespace kme::app
