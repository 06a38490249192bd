#pragma once
// A centre tab whose engine has not landed yet: says honestly what will be
// there, so the window already has its final shape.
#include <QWidget>

namespace kme::app {

class PlaceholderTab final : public QWidget {
    Q_OBJECT

public:
    PlaceholderTab(const QString& heading, const QString& sentence, QWidget* parent = nullptr);
};

}  // namespace kme::app
