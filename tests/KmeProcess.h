#pragma once
// Runs the real `kme` executable ($KME_CLI, set by CTest) as a child process:
// for the tests that need what only a process has (exit status, stdio,
// signals, concurrent writers). In-process tests call kme::cli::runCli.
#include <QElapsedTimer>
#include <QProcess>
#include <QStringList>

#include <string>

namespace kme::testing {

struct Run {
    int rc = -1;  // exit status; -1 = did not finish in time (killed), -2 = crashed
    std::string out, err;
    double seconds = 0;  // a child process's wall time
};

// Runs `program args` to its end; a hang is a failure, not a stuck suite:
// killed after timeoutMs (rc -1).
inline Run runProcess(const QString& program, const QStringList& args, int timeoutMs) {
    QProcess p;
    QElapsedTimer t;
    t.start();
    p.start(program, args);
    Run r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return r;
    }
    r.rc = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    r.out = p.readAllStandardOutput().toStdString();
    r.err = p.readAllStandardError().toStdString();
    r.seconds = t.elapsed() / 1000.0;
    return r;
}

inline Run kmeRun(const QStringList& args, int timeoutMs = 300000) {
    return runProcess(qEnvironmentVariable("KME_CLI"), args, timeoutMs);
}

}  // namespace kme::testing
