#pragma once
// Runs `fn` and expects a kme::Error of `kind` whose message holds every
// fragment (Qt Test: fails the calling test function otherwise).
#include <QtTest>

#include <vector>

#include "engine/core/Error.h"

namespace kme::testing {

template <class Fn>
void expectError(Fn fn, const std::vector<QString>& fragments, ErrorKind kind = ErrorKind::Input) {
    try {
        fn();
    } catch (const Error& e) {
        const QString msg = QString::fromStdString(e.what());
        for (const auto& f : fragments)
            if (!msg.contains(f)) QFAIL(qPrintable("message '" + msg + "' lacks '" + f + "'"));
        if (e.kind() != kind) QFAIL(qPrintable("error '" + msg + "' has an unexpected kind"));
        qInfo("  error as expected: %s", e.what());
        return;
    }
    QFAIL("no kme::Error thrown");
}

}  // namespace kme::testing
