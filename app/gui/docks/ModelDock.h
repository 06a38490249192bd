#pragma once
// Left dock "Model": the facts of the loaded model (shape, size, dtype,
// weights identity, folder), or an invitation to open one.
#include <QDockWidget>
#include <optional>

#include "app/gui/ModelFacts.h"

class QFormLayout;
class QLabel;
class QStackedWidget;

namespace kme::app {

class ModelDock final : public QDockWidget {
    Q_OBJECT

public:
    explicit ModelDock(QWidget* parent = nullptr);

    void setFacts(const ModelFacts& facts);
    void clearFacts();
    // The text shown for a fact ("Layers × width" -> "2 × 16"), for tests.
    QString factText(const QString& label) const;

private:
    QLabel* addRow(const QString& label);

    QStackedWidget* stack_ = nullptr;
    QFormLayout* form_ = nullptr;
    QLabel* empty_ = nullptr;
    QList<QPair<QString, QLabel*>> rows_;
    QLabel* architecture_ = nullptr;
    QLabel* shape_ = nullptr;
    QLabel* heads_ = nullptr;
    QLabel* mlp_ = nullptr;
    QLabel* vocab_ = nullptr;
    QLabel* context_ = nullptr;
    QLabel* parameters_ = nullptr;
    QLabel* dtype_ = nullptr;
    QLabel* hash_ = nullptr;
    QLabel* folder_ = nullptr;
};

}  // namespace kme::app
