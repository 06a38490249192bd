// MendEditorPanel's training job: kme train-mend's meta-training
// (kme::trainMend) on the JobRunner, writing nothing unless it finishes.
#include <QFile>
#include <QFileInfo>
#include <QDir>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QMutex>
#include <QProgressBar>
#include <QTimer>
#include <cstdio>

#include "app/gui/JobRunner.h"
#include "app/gui/tabs/MendEditorPanel.h"
#include "engine/core/Error.h"
#include "engine/edit/Mend.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"

namespace kme::app {

// The trainer's log lines, written on the worker thread, read by a GUI timer.
struct MendEditorPanel::TrainLog {
    QMutex mutex;
    QString last;
};

void MendEditorPanel::pollTrainLog() {
    if (!trainLog_) return;
    QMutexLocker lock(&trainLog_->mutex);
    QString text = trainLog_->last;
    if (scoring_)
        text += (text.isEmpty() ? QString() : QStringLiteral("\n")) +
                tr("Time budget spent: scoring the fresh and the trained editor on every validation and test record "
                   "(as kme train-mend; this can take minutes). Cancel stops it and keeps nothing.");
    if (!text.isEmpty()) log_->setText(text);
}

bool MendEditorPanel::train() {
    if (!model_ || runner_->isBusy() || training_) return false;
    const QString factsFile = facts_->text().trimmed();
    if (factsFile.isEmpty() || !QFileInfo(factsFile).isFile()) {
        log_->setText(tr("⚠ The facts file %1 does not exist.").arg(factsFile));
        trainBox_->setVisible(true);
        return false;
    }
    const QString out = trainOutputPath();
    if (!QDir().mkpath(QFileInfo(out).absolutePath())) {
        log_->setText(tr("⚠ Cannot create the folder %1.").arg(QFileInfo(out).absolutePath()));
        return false;
    }
    kme::MendTrainParams p;  // kme train-mend's defaults
    p.minutes = minutes_->value();
    p.maxSteps = stepLimit_;
    const std::string finalPath = QFile::encodeName(out).toStdString();
    p.out = finalPath + ".training";          // renamed into place only after a finished, uncancelled run
    p.checkpoint = finalPath + ".kme-checkpoint";
    p.resume = false;
    const std::string file = QFile::encodeName(factsFile).toStdString();
    auto model = model_;
    auto log = std::make_shared<TrainLog>();
    auto done = std::make_shared<kme::MendTrainResult>();
    trainLog_ = log;
    const bool started = runner_->start(
        tr("Training a MEND editor (%1 min)").arg(p.minutes),
        [model, p, file, finalPath, log, done](const kme::ProgressFn& progress) {
            kme::MendTrainParams q = p;
            q.records = kme::loadDataset(file).records;
            // Nothing half-done stays behind: the side file and the checkpoint go on every way out but success.
            struct Cleanup {
                const kme::MendTrainParams& q;
                bool keep = false;
                ~Cleanup() {
                    if (keep) return;
                    std::remove(q.out.c_str());
                    std::remove(q.checkpoint.c_str());
                }
            } cleanup{q};
            // The trainer stops at a false progress and still scores and saves what it has (kme::trainMend);
            // the window's Cancel means: stop now, keep nothing. Scoring calls progress too (per record).
            const kme::ProgressFn stopHere = [&progress](double d, double t) {
                if (!progress(d, t)) throw kme::Cancelled();
                return true;
            };
            *done = kme::trainMend(
                *model, q,
                [log](const std::string& line) {
                    QMutexLocker lock(&log->mutex);
                    log->last = QString::fromStdString(line);
                },
                stopHere);
            // A cancel after the last scored record (while saving) still keeps nothing.
            stopHere(1, 1);
            if (std::rename(q.out.c_str(), finalPath.c_str()) != 0)
                kme::fail(kme::ErrorKind::Io, "cannot move the trained editor to " + finalPath);
            cleanup.keep = true;
            std::remove(q.checkpoint.c_str());
        },
        {},
        [this, out, done](JobOutcome outcome, const QString& message) {
            training_ = false;
            logTimer_->stop();
            trainLog_.reset();
            if (outcome == JobOutcome::Succeeded) {
                log_->setText(tr("Trained %1 steps in %2 min; held-out test subjects: efficacy %3% → %4%, "
                                 "neighbourhood %5% → %6% (fresh editor → trained). Written to %7.")
                                  .arg(done->steps)
                                  .arg(done->seconds / 60, 0, 'f', 1)
                                  .arg(100 * done->testBefore.efficacy, 0, 'f', 1)
                                  .arg(100 * done->testAfter.efficacy, 0, 'f', 1)
                                  .arg(100 * done->testBefore.neighborhood, 0, 'f', 1)
                                  .arg(100 * done->testAfter.neighborhood, 0, 'f', 1)
                                  .arg(out));
                // A chosen file that did not fit gives way to the new editor.
                if (!chosen_.isEmpty()) chooseFile(out);
                header_ = {};
                refresh();
            } else if (outcome == JobOutcome::Cancelled) {
                log_->setText(tr("Training cancelled: no editor was written."));
                updateTrainControls();
            } else {
                log_->setText(tr("⚠ Training failed: %1").arg(message.section(QLatin1Char('\n'), 0, 0)));
                updateTrainControls();
            }
            Q_EMIT stateChanged();
            Q_EMIT trainingFinished(outcome == JobOutcome::Succeeded);
        });
    if (!started) {
        trainLog_.reset();
        return false;
    }
    training_ = true;
    scoring_ = false;
    log_->setText(tr("Starting: loading the facts, scoring the fresh editor on the validation subjects…"));
    logTimer_->start();
    updateTrainControls();
    Q_EMIT stateChanged();
    return true;
}

void MendEditorPanel::cancelTraining() {
    if (training_) runner_->cancel();
}

}  // namespace kme::app
