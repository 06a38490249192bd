#include "app/gui/Job.h"

#include <QDateTime>
#include <new>
#include <stdexcept>

#include "app/gui/EditRemedy.h"
#include "engine/core/Error.h"
#include "engine/edit/EditProblem.h"

namespace kme::app {

Job::Job(QString title, Work work, QObject* parent)
    : QObject(parent), title_(std::move(title)), work_(std::move(work)) {
    // The JobRunner owns the job and deletes it once the pool is done with it.
    setAutoDelete(false);
}

bool Job::reportProgress(double done, double total) {
    // A trace may report thousands of steps a second: send at most ~30
    // updates a second (plus the last one) so the GUI's queue stays short.
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (lastProgressMs_ < 0 || now - lastProgressMs_ >= 33 || done >= total) {
        lastProgressMs_ = now;
        Q_EMIT progress(done, total);
    }
    return !cancel_.load();
}

void Job::run() {
    try {
        work_([this](double done, double total) { return reportProgress(done, total); });
        // Work that cannot stop half-way (a load, one forward pass) still
        // honours a cancel: its result is dropped.
        if (cancel_.load()) Q_EMIT cancelled();
        else Q_EMIT succeeded();
    } catch (const kme::Cancelled&) {
        Q_EMIT cancelled();
    } catch (const kme::EditSetupError& e) {
        // The engine names the problem; the window adds the control that remedies it.
        Q_EMIT failed(QString::fromStdString(e.what()) + QStringLiteral(": ") + editRemedy(e));
    } catch (const kme::Error& e) {
        if (e.kind() == kme::ErrorKind::Cancelled) Q_EMIT cancelled();
        else Q_EMIT failed(QString::fromStdString(e.what()));
    } catch (const std::bad_alloc&) {
        Q_EMIT failed(tr("Out of memory while running “%1”.").arg(title_));
    } catch (const std::exception& e) {
        Q_EMIT failed(tr("Unexpected error in “%1”: %2").arg(title_, QString::fromStdString(e.what())));
    } catch (...) {
        Q_EMIT failed(tr("Unknown error in “%1”.").arg(title_));
    }
    // Release what the work captured (models, tensors) on this thread, before
    // the GUI thread learns that the job is over.
    work_ = nullptr;
    Q_EMIT finished();
}

}  // namespace kme::app
