#pragma once
// A failure the user must see, above the tabs until dismissed: what failed
// and why (the first lines of the engine's message; all of it in the tooltip).
// Unlike the status bar it is not replaced by the next job's message.
#include <QFrame>

class QLabel;
class QToolButton;

namespace kme::app {

class ErrorBanner final : public QFrame {
    Q_OBJECT

public:
    explicit ErrorBanner(QWidget* parent = nullptr);

    // Shows (or replaces) the error and makes the banner visible.
    void showError(const QString& title, const QString& message);
    // The text shown ("" when nothing was shown yet).
    QString text() const;
    QToolButton* dismissButton() const { return dismiss_; }

private:
    QLabel* label_ = nullptr;
    QToolButton* dismiss_ = nullptr;
};

}  // namespace kme::app
