#pragma once
// Shared steps of the window tests: isolated settings, loading a model folder
// through the window and waiting for the job runner, with one timeout.
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"

namespace kme::testing {

// An edit computes key statistics the first time; CI cores are shared.
constexpr int kAppJobTimeoutMs = 1200000;

// Settings and standard paths of this test only, emptied.
inline void isolateSettings(const char* testName) {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("KME-tests"));
    QCoreApplication::setApplicationName(QString::fromLatin1(testName));
    QSettings().clear();
}

// Waits until the window's job runner is idle; false on timeout.
inline bool waitIdle(kme::app::MainWindow& w, int timeoutMs = kAppJobTimeoutMs) {
    QElapsedTimer clock;
    clock.start();
    while (w.jobRunner()->isBusy() && clock.elapsed() < timeoutMs) QTest::qWait(20);
    return !w.jobRunner()->isBusy();
}

// File ▸ Open model folder without the dialog; true when it loaded.
inline bool loadModel(kme::app::MainWindow& w, const QString& folder, int timeoutMs = kAppJobTimeoutMs) {
    QSignalSpy done(&w, &kme::app::MainWindow::modelLoadFinished);
    if (!w.openModelFolder(folder)) return false;
    if (!done.wait(timeoutMs) && done.isEmpty()) return false;
    return done.first().first().toBool();
}

}  // namespace kme::testing
