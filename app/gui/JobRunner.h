#pragma once
// Runs engine work off the GUI thread, one job at a time (DESIGN.md: "Engine
// work runs off the GUI thread through one job runner").
//
// Usage: the caller keeps the result in a shared holder that the work fills on
// the worker thread and `onSuccess` reads on the GUI thread:
//
//   auto result = std::make_shared<PredictResult>();
//   runner->start(tr("Predicting"), [=](const kme::ProgressFn&) { *result = ...; },
//                 [=] { show(*result); });
//
// `onSuccess` runs only after the work returned normally and was not
// cancelled; the signal that triggers it orders the worker's writes before the
// GUI thread's reads.
#include <QObject>
#include <QPointer>
#include <QString>
#include <QThreadPool>
#include <functional>

#include "app/gui/Job.h"

namespace kme::app {

enum class JobOutcome { Succeeded, Failed, Cancelled };

class JobRunner final : public QObject {
    Q_OBJECT

public:
    using Callback = std::function<void()>;
    using FinishedCallback = std::function<void(JobOutcome outcome, const QString& message)>;

    explicit JobRunner(QObject* parent = nullptr);
    // Cancels a running job and waits for it (a load cannot be interrupted).
    ~JobRunner() override;

    // Starts `work` on the worker thread. Returns false (and emits `refused`)
    // when a job is already running. On the GUI thread, after the job:
    // `onSuccess` (only on success), the `finished` signal, then `onFinished`
    // (every outcome; the place to chain a next job).
    bool start(const QString& title, Job::Work work, Callback onSuccess = {}, FinishedCallback onFinished = {});

    bool isBusy() const { return current_ != nullptr; }
    QString currentTitle() const;

public Q_SLOTS:
    // Asks the running job to stop; no-op when idle.
    void cancel();

Q_SIGNALS:
    void busyChanged(bool busy);
    void started(const QString& title);
    void progress(double done, double total);  // total <= 0: unknown
    void cancelRequested();
    // After every job; `message` is the engine's message for a failure.
    void finished(const QString& title, kme::app::JobOutcome outcome, const QString& message);
    void refused(const QString& runningTitle);

private:
    void onJobFinished();

    QThreadPool pool_;            // one worker: jobs never overlap
    Job* current_ = nullptr;      // owned; deleted after the pool released it
    Callback onSuccess_;
    FinishedCallback onFinished_;
    JobOutcome outcome_ = JobOutcome::Succeeded;
    QString message_;
};

}  // namespace kme::app
