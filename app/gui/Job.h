#pragma once
// One piece of engine work run on a worker thread (qBittorrent's
// TorrentCreator habit: a QObject + QRunnable with progress / succeeded /
// failed signals and an atomic cancel flag).
//
// The work is a plain function that receives the engine's ProgressFn; it
// stores its result in state the caller owns (see JobRunner::start). The job
// catches every exception at this one boundary and turns it into a signal, so
// an engine error never reaches the event loop.
#include <QObject>
#include <QRunnable>
#include <QString>
#include <atomic>
#include <functional>

#include "engine/core/Progress.h"

namespace kme::app {

class Job final : public QObject, public QRunnable {
    Q_OBJECT

public:
    using Work = std::function<void(const kme::ProgressFn& progress)>;

    Job(QString title, Work work, QObject* parent = nullptr);

    const QString& title() const { return title_; }
    // Thread-safe. The work sees it at its next progress call (the engine then
    // throws kme::Cancelled); work without progress calls runs to its end and
    // its result is dropped.
    void cancel() { cancel_.store(true); }
    bool isCancelRequested() const { return cancel_.load(); }

    void run() override;  // worker thread

Q_SIGNALS:
    // All emitted from the worker thread; receivers get them queued.
    void progress(double done, double total);
    void succeeded();
    void failed(const QString& message);
    void cancelled();
    // Always the last signal, after exactly one of the three above.
    void finished();

private:
    bool reportProgress(double done, double total);

    QString title_;
    Work work_;
    std::atomic<bool> cancel_{false};
    qint64 lastProgressMs_ = -1;  // worker-thread only: throttles progress signals
};

}  // namespace kme::app
