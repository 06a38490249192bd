#pragma once
// Runs the real `kme` executable ($KME_CLI, set by CTest) as a child process:
// for the tests that need what only a process has (exit status, stdio,
// signals, concurrent writers). In-process tests call kme::cli::runCli.
#include <QProcess>
#include <QStringList>

#include <string>

namespace kme::testing {

struct Run {
    int rc = -1;  // exit status; -1 = did not finish in time (killed), -2 = crashed
    std::string out, err;
};

inline Run kmeRun(const QStringList& args, int timeoutMs = 300000) {
    QProcess p;
    p.start(qEnvironmentVariable("KME_CLI"), args);
    Run r;
    if (!p.waitForFinished(timeoutMs)) {  // a hang is a failure, not a stuck suite
        p.kill();
        p.waitForFinished();
        return r;
    }
    r.rc = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    r.out = p.readAllStandardOutput().toStdString();
    r.err = p.readAllStandardError().toStdString();
    return r;
}

}  // namespace kme::testing
