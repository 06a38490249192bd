#pragma once
// The "Export…" file dialog every plot view shows: PNG, PDF or SVG (and CSV
// where a view offers a table), the suffix of the chosen filter added when
// the name has none.
#include <QString>

class QWidget;

namespace kme::app {

// Asks where to export a picture (PNG / PDF / SVG) under `title`, starting
// at `suggestedName`. "" when cancelled.
QString askPictureExportPath(QWidget* parent, const QString& title, const QString& suggestedName);
// The same for a CSV table.
QString askCsvExportPath(QWidget* parent, const QString& title, const QString& suggestedName);

}  // namespace kme::app
