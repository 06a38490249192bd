// An edit that is not a weight change, through the window: a GRACE edit of
// the demo model from the Edit tab (methods grouped by family), seen in the
// history; undo and redo move the state hash (weights + codebook) while the
// weights hash never changes; close, reopen the session file and find the
// codebook acting again. Then an IKE edit on top: a context, undone exactly.
#include <QtTest>

#include <QApplication>
#include <QComboBox>
#include <QLineEdit>
#include <QMessageBox>
#include <QTabWidget>
#include <QPushButton>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QTreeWidget>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/docks/HistoryDock.h"
#include "app/gui/tabs/EditTab.h"
#include "engine/core/Paths.h"
#include "engine/edit/EditMethod.h"
#include "engine/model/Model.h"
#include "tests/app/AppTestSupport.h"

using namespace kme::app;
using kme::testing::loadModel;
using kme::testing::waitIdle;

namespace {
constexpr int kJobTimeoutMs = kme::testing::kAppJobTimeoutMs;
const QString kTemplate = QStringLiteral("The {} is located in the city of");
const std::string kPrompt = "The Colosseum is located in the city of";
}  // namespace

class TestGraceFlow final : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    QString demoModel_;

    static bool openSession(MainWindow& w, const QString& path) {
        QSignalSpy done(w.session(), &SessionController::sessionOpenFinished);
        if (!w.openSession(path)) return false;
        if (!done.wait(kJobTimeoutMs) && done.isEmpty()) return false;
        return done.first().first().toBool();
    }

    static bool runEdit(EditTab* tab) {
        if (!tab->runButton()->isEnabled()) return false;
        QSignalSpy done(tab, &EditTab::editFinished);
        QTest::mouseClick(tab->runButton(), Qt::LeftButton);
        if (done.isEmpty() && !done.wait(kJobTimeoutMs)) return false;
        return done.first().first().toBool();
    }

    static double pParis(MainWindow& w) { return kme::targetProbability(*w.model(), kPrompt, " Paris"); }

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_grace_flow");
        QVERIFY(tmp_.isValid());
        demoModel_ = QString::fromStdString(kme::demoModelFolder());
        QVERIFY(!demoModel_.isEmpty());
    }

    void graceEditUndoRedoReopen() {
        const QString sessionPath = tmp_.filePath(QStringLiteral("grace.kmes"));
        QString base, edited;
        {
            MainWindow w;
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            QVERIFY(w.newSession(sessionPath));
            QVERIFY(loadModel(w, demoModel_));
            QVERIFY(waitIdle(w));
            SessionController* session = w.session();
            base = session->baseHash();
            const double before = pParis(w);

            EditTab* tab = w.editTab();
            w.tabs()->setCurrentWidget(tab);
            tab->setMethod(kme::EditMethod::Grace);
            QCOMPARE(tab->methodCombo()->currentText(), QStringLiteral("GRACE"));
            tab->setLayer(5);
            tab->setRequest(kTemplate, QStringLiteral("Colosseum"), QStringLiteral("Paris"));
            QTRY_COMPARE_WITH_TIMEOUT(tab->targetTrueEdit()->text(), QStringLiteral("Rome"), kJobTimeoutMs);
            QVERIFY(waitIdle(w));
            QVERIFY(runEdit(tab));
            QVERIFY2(tab->summary()->toPlainText().contains(QStringLiteral("GRACE codebook at layer 5")),
                     qPrintable(tab->summary()->toPlainText()));

            QTreeWidget* tree = w.historyDock()->tree();
            QCOMPARE(tree->topLevelItemCount(), 1);
            QCOMPARE(tree->topLevelItem(0)->text(HistoryDock::kMethodCol), QStringLiteral("GRACE"));
            edited = session->currentHash();
            QVERIFY(edited != base);
            QCOMPARE(QString::fromStdString(w.model()->weightsHash()), base);  // the weights are untouched
            QCOMPARE(QString::fromStdString(w.model()->stateHash()), edited);
            const auto stored = session->store()->listEdits();
            QCOMPARE(stored[0].payloadKind, std::string("adapter"));
            const double after = pParis(w);
            qInfo("p(Paris) %.6f -> %.6f", before, after);
            QVERIFY(before < 0.01 && after > 0.5);

            QVERIFY(session->undo());
            QVERIFY(waitIdle(w));
            QCOMPARE(session->currentHash(), base);
            QCOMPARE(QString::fromStdString(w.model()->stateHash()), base);
            QCOMPARE(pParis(w), before);  // outside every codebook: the same number
            QVERIFY(session->redo());
            QVERIFY(waitIdle(w));
            QCOMPARE(session->currentHash(), edited);
            QCOMPARE(pParis(w), after);
            w.close();
        }
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(openSession(w, sessionPath));
        QVERIFY(w.model());
        QCOMPARE(w.session()->currentHash(), edited);
        QCOMPARE(QString::fromStdString(w.model()->stateHash()), edited);
        QCOMPARE(QString::fromStdString(w.model()->weightsHash()), base);
        QVERIFY(pParis(w) > 0.5);

        // IKE on top: a context; undoing it gives the GRACE state back exactly.
        EditTab* tab = w.editTab();
        tab->setMethod(kme::EditMethod::Ike);
        tab->setRequest(QStringLiteral("The capital of {} is"), QStringLiteral("Germany"), QStringLiteral("Rome"));
        QVERIFY(waitIdle(w));
        const bool ran = runEdit(tab);
        if (auto* box = w.findChild<QMessageBox*>(QStringLiteral("jobErrorBox"))) qWarning("%s", qPrintable(box->informativeText()));
        QVERIFY2(ran, qPrintable(tab->inputError() + tab->summary()->toPlainText()));
        QCOMPARE(w.session()->store()->listEdits()[1].payloadKind, std::string("context"));
        const QString withContext = w.session()->currentHash();
        QVERIFY(withContext != edited);
        QCOMPARE(QString::fromStdString(w.model()->weightsHash()), base);
        QVERIFY(w.session()->undo());
        QVERIFY(waitIdle(w));
        QCOMPARE(w.session()->currentHash(), edited);
        QCOMPARE(QString::fromStdString(w.model()->stateHash()), edited);
        w.close();
    }
};

QTEST_MAIN(TestGraceFlow)
#include "test_grace_flow.moc"
