// File ▸ Export: the session as JSON (the same document `kme session export`
// prints) and the edited model as a complete folder whose weights are the live
// ones (checked by loading it back and comparing weights hashes). Refusals:
// no session, an unwritable path (an existing file survives), the loaded
// model's own folder.
#include <QtTest>

#include <QDir>
#include <QFile>
#include <QSettings>
#include <QSpinBox>
#include <QCheckBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <nlohmann/json.hpp>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/EditTab.h"
#include "engine/model/Model.h"
#include "engine/session/SessionJson.h"
#include "tests/app/AppTestSupport.h"
#include "tests/app/TinyModelFolder.h"

using namespace kme::app;
using kme::testing::loadModel;
using kme::testing::waitIdle;

namespace {
constexpr int kJobTimeoutMs = kme::testing::kAppJobTimeoutMs;
}

class TestFileExport final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString tinyModel_;



private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_file_export");
        QVERIFY(tmp_.isValid());
        tinyModel_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(tinyModel_));
        kme::testing::writeTinyModelFolder(tinyModel_.toStdString());
    }

    void exportsSessionAndEditedModel() {
        MainWindow w;
        w.show();
        QString error;
        // Nothing open yet: refused with a reason.
        QVERIFY(!w.exportSessionJson(tmp_.filePath(QStringLiteral("none.json")), &error));
        QVERIFY(!error.isEmpty());
        QVERIFY(!w.exportEditedModel(tmp_.filePath(QStringLiteral("none-model")), &error));
        QVERIFY(error.contains(QStringLiteral("No model")));

        QVERIFY(loadModel(w, tinyModel_));
        QVERIFY(waitIdle(w));
        QVERIFY(w.newSession(tmp_.filePath(QStringLiteral("export.kmes"))));
        EditTab* tab = w.editTab();
        tab->setLayer(0);  // not the tiny model's last layer, where ROME cannot reach the target
        tab->setRequest(QStringLiteral("The capital of {} is"), QStringLiteral("France"), QStringLiteral("Rome"),
                        QStringLiteral("Paris"));
        tab->vStepsSpin()->setValue(3);
        tab->mom2Check()->setChecked(false);
        QSignalSpy edited(tab, &EditTab::editFinished);
        QVERIFY(tab->runEdit());
        QVERIFY(edited.wait(kJobTimeoutMs) || !edited.isEmpty());
        QVERIFY(edited.first().first().toBool());
        QVERIFY(waitIdle(w));
        const QString liveHash = w.session()->currentHash();
        QVERIFY(liveHash != w.session()->baseHash());

        // Session JSON: the same document as `kme session export` (everything but delta bytes).
        const QString jsonPath = tmp_.filePath(QStringLiteral("export.json"));
        QVERIFY2(w.exportSessionJson(jsonPath, &error), qPrintable(error));
        QFile f(jsonPath);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const auto j = nlohmann::json::parse(f.readAll().toStdString());
        QCOMPARE(j, kme::sessionToJson(*w.session()->store(), kme::SessionJsonDetail::Export));
        QCOMPARE(int(j.at("edits").size()), 1);
        QCOMPARE(QString::fromStdString(j.at("edits")[0].at("weights_hash_after").get<std::string>()), liveHash);

        // An unwritable target: refused, naming it; an existing file there is left as it was.
        QVERIFY(!w.exportSessionJson(tmp_.filePath(QStringLiteral("no-such-dir/x.json")), &error));
        QVERIFY2(error.contains(QStringLiteral("no-such-dir")), qPrintable(error));

        // The edited model: a folder that loads with the live weights.
        QVERIFY(!w.exportEditedModel(tinyModel_, &error));  // the checkpoint itself stays as it is
        QVERIFY(error.contains(QStringLiteral("own folder")));
        const QString out = tmp_.filePath(QStringLiteral("edited-model"));
        QSignalSpy exported(&w, &MainWindow::exportFinished);
        QVERIFY2(w.exportEditedModel(out, &error), qPrintable(error));
        QVERIFY(exported.wait(kJobTimeoutMs) || !exported.isEmpty());
        QVERIFY(exported.first().first().toBool());
        const auto reloaded = kme::Model::load(out.toStdString());
        QCOMPARE(QString::fromStdString(reloaded->weightsHash()), liveHash);
        QVERIFY(QFileInfo::exists(out + QStringLiteral("/config.json")));
    }
};

QTEST_MAIN(TestFileExport)
#include "test_file_export.moc"
