#pragma once
// The status-bar face of the JobRunner: what runs, a progress bar and a
// Cancel button, visible only while a job runs.
#include <QWidget>

class QLabel;
class QProgressBar;
class QPushButton;

namespace kme::app {

class JobRunner;

class JobStatusWidget final : public QWidget {
    Q_OBJECT

public:
    explicit JobStatusWidget(JobRunner* runner, QWidget* parent = nullptr);

    QPushButton* cancelButton() const { return cancel_; }
    QProgressBar* progressBar() const { return bar_; }

private:
    void onStarted(const QString& title);
    void onProgress(double done, double total);

    QLabel* label_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QPushButton* cancel_ = nullptr;
};

}  // namespace kme::app
