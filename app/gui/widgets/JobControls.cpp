#include "app/gui/widgets/JobControls.h"

#include <QHBoxLayout>
#include <QVBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <algorithm>
#include <cmath>

namespace kme::app {

namespace {
constexpr int kSteps = 1000;  // progress bar resolution
}

JobControls::JobControls(const QString& runText, const Names& names, QWidget* parent) : QWidget(parent) {
    // The buttons and the bar on one line, the tab's own widgets at its right
    // end; the status below, the full width (a long status wraps there rather
    // than squeezing into what the buttons leave).
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->setSpacing(2);
    row_ = new QHBoxLayout;
    outer->addLayout(row_);
    run_ = new QPushButton(runText, this);
    cancel_ = new QPushButton(tr("Cancel"), this);
    bar_ = new QProgressBar(this);
    bar_->setTextVisible(false);
    bar_->setMaximumWidth(240);
    bar_->setVisible(false);
    status_ = new QLabel(this);
    status_->setTextFormat(Qt::PlainText);
    status_->setWordWrap(true);  // a long status wraps instead of widening the window
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    const std::pair<QWidget*, QString> named[] = {
        {run_, names.run}, {cancel_, names.cancel}, {bar_, names.progress}, {status_, names.status}};
    for (const auto& [widget, name] : named)
        if (!name.isEmpty()) widget->setObjectName(name);
    row_->addWidget(run_);
    row_->addWidget(cancel_);
    row_->addWidget(bar_);
    row_->addStretch(1);
    outer->addWidget(status_);
    connect(run_, &QPushButton::clicked, this, &JobControls::runClicked);
    connect(cancel_, &QPushButton::clicked, this, &JobControls::cancelClicked);
    updateButtons();
}

void JobControls::addTrailingWidget(QWidget* widget) { row_->addWidget(widget); }

void JobControls::addTrailingLayout(QHBoxLayout* layout) { row_->addLayout(layout); }

void JobControls::setRunToolTip(const QString& tip) {
    runTip_ = tip;
    updateButtons();
}

void JobControls::setRunEnabled(bool enabled, const QString& reason) {
    runAllowed_ = enabled;
    reason_ = enabled ? QString() : reason;
    updateButtons();
}

void JobControls::setBusy(bool busy) {
    if (busy && !busy_) setIndeterminate();  // a new run: no total known yet
    busy_ = busy;
    bar_->setVisible(busy);
    updateButtons();
}

void JobControls::setProgress(double done, double total) {
    if (!(total > 0) || !std::isfinite(done) || !std::isfinite(total)) {
        setIndeterminate();
        return;
    }
    bar_->setRange(0, kSteps);
    bar_->setValue(int(std::lround(std::clamp(done / total, 0.0, 1.0) * kSteps)));
}

void JobControls::setIndeterminate() { bar_->setRange(0, 0); }

void JobControls::setStatus(const QString& text) { status_->setText(text); }

QString JobControls::status() const { return status_->text(); }

void JobControls::updateButtons() {
    run_->setEnabled(runAllowed_ && !busy_);
    cancel_->setEnabled(busy_);
    run_->setToolTip(!reason_.isEmpty() && !busy_ ? reason_ : runTip_);
}

}  // namespace kme::app
