#pragma once
// The run / cancel / progress row every job-running tab has: a Run button, a
// Cancel button, a progress bar shown only while busy, room on the right for
// a tab's own buttons (Export, Clear results, a "Saved" list), and under them
// a status line the full width of the row. The tab decides what Run does and
// when it may start; the row only shows it:
//
//   controls_ = new JobControls(tr("&Run trace"), QStringLiteral("locate"), this);
//   connect(controls_, &JobControls::runClicked, this, &LocateTab::runTrace);
//   controls_->setRunEnabled(error.isEmpty(), error);   // why not, as the tooltip
//   controls_->setBusy(true);                           // Run off, Cancel on, bar shown
//   controls_->setProgress(done, total);                // total <= 0: indeterminate
//
// Object names: each tab keeps the names it always had (tests and scripts
// look them up), given in Names; empty ones are left unnamed.
#include <QString>
#include <QWidget>

class QHBoxLayout;
class QLabel;
class QProgressBar;
class QPushButton;

namespace kme::app {

class JobControls final : public QWidget {
    Q_OBJECT

public:
    struct Names {
        QString run;       // "runEditButton"
        QString cancel;    // "cancelEditButton"
        QString progress;  // "editProgress"
        QString status;    // "locateStatus"
    };

    JobControls(const QString& runText, const Names& names, QWidget* parent = nullptr);

    QPushButton* runButton() const { return run_; }
    QPushButton* cancelButton() const { return cancel_; }
    QProgressBar* progressBar() const { return bar_; }
    QLabel* statusLabel() const { return status_; }

    // Adds a tab's own widget at the right end of the buttons' line.
    void addTrailingWidget(QWidget* widget);
    void addTrailingLayout(QHBoxLayout* layout);

    // Run's tooltip while it can start (what it does).
    void setRunToolTip(const QString& tip);
    // Run is enabled when `enabled` and the row is not busy; `reason` (why it
    // cannot start) becomes Run's tooltip while it is disabled.
    void setRunEnabled(bool enabled, const QString& reason = {});
    // Busy: Run off, Cancel on, the bar shown (indeterminate until
    // setProgress); idle: Run as setRunEnabled said, Cancel off, the bar hidden.
    void setBusy(bool busy);
    bool isBusy() const { return busy_; }
    // The bar: done of total (total <= 0 or not finite: indeterminate).
    void setProgress(double done, double total);
    void setIndeterminate();
    // The status line (plain text; "" clears it).
    void setStatus(const QString& text);
    QString status() const;

Q_SIGNALS:
    void runClicked();
    void cancelClicked();

private:
    void updateButtons();

    QHBoxLayout* row_ = nullptr;
    QPushButton* run_ = nullptr;
    QPushButton* cancel_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QLabel* status_ = nullptr;
    QString runTip_;        // Run's own tooltip
    QString reason_;        // why Run is off ("" none)
    bool runAllowed_ = false;
    bool busy_ = false;
};

}  // namespace kme::app
