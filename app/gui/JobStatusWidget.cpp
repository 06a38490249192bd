#include "app/gui/JobStatusWidget.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <algorithm>
#include <cmath>

#include "app/gui/JobRunner.h"

namespace kme::app {

namespace {
constexpr int kSteps = 1000;  // progress bar resolution
}

JobStatusWidget::JobStatusWidget(JobRunner* runner, QWidget* parent) : QWidget(parent) {
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    label_ = new QLabel(this);
    bar_ = new QProgressBar(this);
    bar_->setObjectName(QStringLiteral("jobProgress"));
    bar_->setMaximumWidth(220);
    bar_->setTextVisible(false);
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName(QStringLiteral("jobCancel"));
    cancel_->setToolTip(tr("Stop the running job (Esc)"));
    layout->addWidget(label_);
    layout->addWidget(bar_);
    layout->addWidget(cancel_);
    setVisible(false);

    connect(cancel_, &QPushButton::clicked, runner, &JobRunner::cancel);
    connect(runner, &JobRunner::started, this, &JobStatusWidget::onStarted);
    connect(runner, &JobRunner::progress, this, &JobStatusWidget::onProgress);
    connect(runner, &JobRunner::cancelRequested, this, [this] {
        // Work that has no progress calls (loading) can only stop at its end: say so.
        label_->setText(tr("Cancelling…"));
        cancel_->setEnabled(false);
    });
    connect(runner, &JobRunner::busyChanged, this, [this](bool busy) {
        if (!busy) setVisible(false);
    });
}

void JobStatusWidget::onStarted(const QString& title) {
    label_->setText(title + QStringLiteral("…"));
    bar_->setRange(0, 0);  // busy indicator until the job reports a total
    cancel_->setEnabled(true);
    setVisible(true);
}

void JobStatusWidget::onProgress(double done, double total) {
    if (!(total > 0) || !std::isfinite(done)) {
        bar_->setRange(0, 0);
        return;
    }
    bar_->setRange(0, kSteps);
    bar_->setValue(static_cast<int>(std::lround(std::clamp(done / total, 0.0, 1.0) * kSteps)));
}

}  // namespace kme::app
