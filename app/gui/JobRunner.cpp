#include "app/gui/JobRunner.h"

namespace kme::app {

JobRunner::JobRunner(QObject* parent) : QObject(parent) {
    pool_.setMaxThreadCount(1);
    // libtorch and the engine keep per-thread state (grad mode, thread-local
    // caches): keep the worker thread alive between jobs.
    pool_.setExpiryTimeout(-1);
}

JobRunner::~JobRunner() {
    if (current_) current_->cancel();
    pool_.waitForDone();
    delete current_;
}

QString JobRunner::currentTitle() const { return current_ ? current_->title() : QString(); }

bool JobRunner::start(const QString& title, Job::Work work, Callback onSuccess, FinishedCallback onFinished) {
    if (current_) {
        Q_EMIT refused(current_->title());
        return false;
    }
    current_ = new Job(title, std::move(work));
    onSuccess_ = std::move(onSuccess);
    onFinished_ = std::move(onFinished);
    outcome_ = JobOutcome::Succeeded;
    message_.clear();

    // Queued: the job emits from the worker thread; these lambdas run here.
    connect(current_, &Job::progress, this, &JobRunner::progress, Qt::QueuedConnection);
    connect(current_, &Job::succeeded, this, [this] { outcome_ = JobOutcome::Succeeded; }, Qt::QueuedConnection);
    connect(current_, &Job::failed, this, [this](const QString& m) {
            outcome_ = JobOutcome::Failed;
            message_ = m;
        }, Qt::QueuedConnection);
    connect(current_, &Job::cancelled, this, [this] { outcome_ = JobOutcome::Cancelled; }, Qt::QueuedConnection);
    connect(current_, &Job::finished, this, &JobRunner::onJobFinished, Qt::QueuedConnection);

    Q_EMIT busyChanged(true);
    Q_EMIT started(title);
    pool_.start(current_);
    return true;
}

void JobRunner::cancel() {
    if (!current_ || current_->isCancelRequested()) return;
    current_->cancel();
    Q_EMIT cancelRequested();
}

void JobRunner::onJobFinished() {
    // `finished` is the job's last statement: the pool only needs to return
    // from run(), so this wait is momentary. After it nothing else touches the job.
    pool_.waitForDone();
    Job* job = current_;
    current_ = nullptr;
    const QString title = job->title();
    const bool cancelRequested = job->isCancelRequested();
    job->deleteLater();
    Callback onSuccess = std::move(onSuccess_);
    FinishedCallback onFinished = std::move(onFinished_);
    onSuccess_ = nullptr;
    onFinished_ = nullptr;

    // Idle first, then the results, then the report; `onFinished` comes last
    // because it may chain the next job (e.g. --prompt after a load).
    // A cancel that arrived after the work ended but before its result was
    // shown still wins: the user asked not to have it.
    const JobOutcome outcome =
        outcome_ == JobOutcome::Succeeded && cancelRequested ? JobOutcome::Cancelled : outcome_;
    const QString message = message_;
    Q_EMIT busyChanged(false);
    if (outcome == JobOutcome::Succeeded && onSuccess) onSuccess();
    Q_EMIT finished(title, outcome, message);
    if (onFinished) onFinished(outcome, message);
}

}  // namespace kme::app
