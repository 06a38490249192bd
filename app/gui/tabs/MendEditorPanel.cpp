#include "app/gui/tabs/MendEditorPanel.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSettings>
#include <QStandardPaths>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "app/gui/widgets/JobControls.h"
#include "app/gui/widgets/Tones.h"
#include "engine/edit/Mend.h"
#include "engine/model/Model.h"

namespace kme::app {

namespace {

const char* const kMinutesKey = "edit/mendTrainMinutes";
const char* const kLastFactsDirKey = "edit/mendFactsDir";

QString shortHash(const QString& h) { return h.isEmpty() ? QStringLiteral("?") : h.left(12) + QStringLiteral("…"); }

QString editsText(int n) {
    return n == 1 ? QCoreApplication::translate("MendEditorPanel", "1 edit")
                  : QCoreApplication::translate("MendEditorPanel", "%1 edits").arg(n);
}

QString megabytes(qint64 bytes) { return QLocale().toString(double(bytes) / 1e6, 'f', 1) + QStringLiteral(" MB"); }

QString layerList(const QList<int>& layers) {
    QStringList out;
    for (int l : layers) out << QString::number(l);
    return out.join(QStringLiteral(", "));
}

// Reads an editor's header on a pool thread (no model, no GUI).
MendEditorHeader readHeader(const QString& path) {
    MendEditorHeader h;
    h.path = path;
    try {
        const kme::MendEditorInfo info = kme::readMendEditorInfo(QFile::encodeName(path).toStdString());
        h.weightsHash = QString::fromStdString(info.weightsHash);
        for (int l : info.config.layers) h.layers << l;
        h.rank = info.config.rank;
        h.nHidden = info.config.nHidden;
        h.steps = info.steps;
        h.trainSubjects = int(info.split.train.size());
        h.validationSubjects = int(info.split.validation.size());
        h.testSubjects = int(info.split.test.size());
        h.bytes = info.bytes;
    } catch (const std::exception& e) {
        h.error = QString::fromStdString(e.what()).section(QLatin1Char('\n'), 0, 0);
        if (h.error.isEmpty()) h.error = QStringLiteral("unreadable");
    }
    return h;
}

}  // namespace

MendEditorPanel::MendEditorPanel(JobRunner* runner, SessionController* session, QWidget* parent)
    : QGroupBox(tr("MEND editor"), parent), runner_(runner), session_(session) {
    setObjectName(QStringLiteral("mendEditorBox"));
    auto* layout = new QVBoxLayout(this);

    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("mendEditorStatus"));
    status_->setTextFormat(Qt::RichText);
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(status_);

    auto* fileRow = new QHBoxLayout;
    choose_ = new QPushButton(tr("C&hoose editor file…"), this);
    choose_->setObjectName(QStringLiteral("mendChooseButton"));
    choose_->setToolTip(tr("Another trained editor (kme train-mend writes one): a .safetensors file"));
    useDefault_ = new QPushButton(tr("Use the model's own"), this);
    useDefault_->setObjectName(QStringLiteral("mendDefaultButton"));
    useDefault_->setToolTip(tr("Forget the chosen file: the editor trained here for these weights, else the model "
                               "folder's mend-editor.safetensors"));
    fileRow->addWidget(choose_);
    fileRow->addWidget(useDefault_);
    fileRow->addStretch(1);
    layout->addLayout(fileRow);

    trainBox_ = new QWidget(this);
    trainBox_->setObjectName(QStringLiteral("mendTrainBox"));
    auto* trainLayout = new QVBoxLayout(trainBox_);
    trainLayout->setContentsMargins(0, 4, 0, 0);
    trainNote_ = new QLabel(trainBox_);
    trainNote_->setObjectName(QStringLiteral("mendTrainNote"));
    trainNote_->setWordWrap(true);
    trainNote_->setTextFormat(Qt::RichText);
    trainLayout->addWidget(trainNote_);
    auto* trainRow = new QHBoxLayout;
    facts_ = new QLineEdit(trainBox_);
    facts_->setObjectName(QStringLiteral("mendFactsEdit"));
    facts_->setPlaceholderText(tr("CounterFact records with paraphrases and neighbours"));
    facts_->setToolTip(tr("The training facts: split by subject into train / validation / test (saved with the editor)"));
    auto* browse = new QPushButton(tr("…"), trainBox_);
    browse->setToolTip(tr("Choose the facts file"));
    minutes_ = new QDoubleSpinBox(trainBox_);
    minutes_->setObjectName(QStringLiteral("mendMinutesSpin"));
    minutes_->setRange(0.5, 600);
    minutes_->setDecimals(1);
    minutes_->setSingleStep(1);
    minutes_->setSuffix(tr(" min"));
    minutes_->setToolTip(tr("Time budget of the training (kme train-mend --minutes); the editor is scored on the "
                            "validation and test subjects afterwards"));
    minutes_->setValue(QSettings().value(kMinutesKey, 10.0).toDouble());
    controls_ = new JobControls(tr("&Train editor"),
                                {QStringLiteral("mendTrainButton"), QStringLiteral("mendCancelTrainButton"),
                                 QStringLiteral("mendTrainProgress"), QStringLiteral("mendTrainLog")},
                                trainBox_);
    controls_->cancelButton()->setToolTip(tr("Stop: nothing is written (no editor file, no checkpoint)"));
    trainRow->addWidget(new QLabel(tr("Facts:"), trainBox_));
    trainRow->addWidget(facts_, 1);
    trainRow->addWidget(browse);
    trainRow->addWidget(new QLabel(tr("Budget:"), trainBox_));
    trainRow->addWidget(minutes_);
    trainLayout->addLayout(trainRow);
    log_ = controls_->statusLabel();  // the training's log line, beside Train / Cancel / progress
    trainLayout->addWidget(controls_);
    layout->addWidget(trainBox_);

    watcher_ = new QFutureWatcher<MendEditorHeader>(this);
    logTimer_ = new QTimer(this);
    logTimer_->setInterval(250);
    connect(logTimer_, &QTimer::timeout, this, &MendEditorPanel::pollTrainLog);

    connect(choose_, &QPushButton::clicked, this, [this] {
        const QString start = chosen_.isEmpty() ? (path_.isEmpty() ? trainedEditorFolder() : QFileInfo(path_).absolutePath())
                                                : QFileInfo(chosen_).absolutePath();
        const QString file = QFileDialog::getOpenFileName(this, tr("Choose a MEND editor"), start,
                                                          tr("MEND editors (*.safetensors);;All files (*)"));
        if (!file.isEmpty()) chooseFile(file);
    });
    connect(useDefault_, &QPushButton::clicked, this, [this] { chooseFile(QString()); });
    connect(browse, &QPushButton::clicked, this, [this] {
        QSettings settings;
        const QString file = QFileDialog::getOpenFileName(this, tr("Facts to train the editor on"),
                                                          settings.value(kLastFactsDirKey).toString(),
                                                          tr("JSON files (*.json);;All files (*)"));
        if (file.isEmpty()) return;
        settings.setValue(kLastFactsDirKey, QFileInfo(file).absolutePath());
        factsTyped_ = true;
        facts_->setText(file);
    });
    connect(facts_, &QLineEdit::textEdited, this, [this] { factsTyped_ = true; });
    connect(facts_, &QLineEdit::textChanged, this, &MendEditorPanel::updateTrainControls);
    connect(minutes_, &QDoubleSpinBox::valueChanged, this, [](double v) { QSettings().setValue(kMinutesKey, v); });
    connect(controls_, &JobControls::runClicked, this, &MendEditorPanel::train);
    connect(controls_, &JobControls::cancelClicked, this, &MendEditorPanel::cancelTraining);
    connect(runner_, &JobRunner::busyChanged, this, &MendEditorPanel::updateTrainControls);
    connect(runner_, &JobRunner::progress, this, [this](double done, double total) {
        if (!training_) return;
        if (total > 0 && done < total) {
            controls_->setProgress(done, total);
        } else {
            controls_->setIndeterminate();  // the budget is spent: scoring on validation and test
            scoring_ = true;
        }
    });
    if (session_) {
        connect(session_, &SessionController::weightsChanged, this, &MendEditorPanel::refresh);
        connect(session_, &SessionController::editsChanged, this, &MendEditorPanel::refresh);
    }
    setModel(nullptr);
}

MendEditorPanel::~MendEditorPanel() {
    ++generation_;
    // A header read in flight finishes on its pool thread; nothing waits for the GUI.
    watcher_->disconnect(this);
}

QString MendEditorPanel::trainedEditorFolder() {
    return QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)).filePath(QStringLiteral("mend-editors"));
}

QString MendEditorPanel::trainedEditorFor(const QString& weightsHash) {
    if (weightsHash.isEmpty()) return {};
    const QString path = QDir(trainedEditorFolder()).filePath(weightsHash.left(16) + QStringLiteral(".safetensors"));
    return QFileInfo(path).isFile() ? path : QString();
}

void MendEditorPanel::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    if (!factsTyped_) {
        // The model's project: projects/demo/model -> projects/demo/facts.json.
        QString guess;
        if (model_ && !model_->folder().empty()) {
            const QString f = QDir(QString::fromStdString(model_->folder())).absoluteFilePath(QStringLiteral("../facts.json"));
            if (QFileInfo(f).isFile()) guess = QDir::cleanPath(f);
        }
        facts_->setText(guess);
    }
    refresh();
}

void MendEditorPanel::setChosenPath(const QString& path) {
    const QString p = path.trimmed();
    if (p == chosen_) return;
    chosen_ = p;
    refresh();
}

void MendEditorPanel::chooseFile(const QString& path) {
    setChosenPath(path);
    Q_EMIT chosenPathChanged(chosen_);
}

int MendEditorPanel::weightEditsApplied() const {
    if (!session_) return 0;
    int n = 0;
    for (const auto& e : session_->edits())
        if (e.enabled && e.payloadKind == "weights") ++n;
    return n;
}

QString MendEditorPanel::liveWeightsHash() const {
    if (!session_ || !model_) return {};
    if (weightEditsApplied() == 0) return session_->baseHash();
    // The session's hash is the state hash: the weights hash while no adapter or context is enabled.
    for (const auto& e : session_->edits())
        if (e.enabled && e.payloadKind != "weights") return {};
    return session_->currentHash();
}

QString MendEditorPanel::resolvePath() const {
    if (!model_) return {};
    if (!chosen_.isEmpty()) return chosen_;
    const QString mine = trainedEditorFor(liveWeightsHash());
    if (!mine.isEmpty()) return mine;
    return QString::fromStdString(kme::defaultMendEditorPath(model_->folder()));
}

void MendEditorPanel::refresh() {
    const QString path = resolvePath();
    const int generation = ++generation_;
    path_ = path;
    if (!model_) {
        header_ = {};
        setState(State::NoModel);
        return;
    }
    if (path.isEmpty()) {
        header_ = {};
        setState(State::NoEditor);
        return;
    }
    if (header_.path != path || !header_.error.isEmpty() || state_ == State::Reading || state_ == State::NoEditor ||
        state_ == State::NoModel) {
        // (Re)read the file: another path, or it may have been written since.
        setState(State::Reading);
        watcher_->disconnect(this);
        connect(watcher_, &QFutureWatcher<MendEditorHeader>::finished, this, [this, generation] {
            if (generation != generation_) return;  // the path or the weights changed meanwhile
            header_ = watcher_->result();
            showState();
        });
        watcher_->setFuture(QtConcurrent::run(readHeader, path));
        return;
    }
    showState();  // same file: only the live weights may have changed
}

void MendEditorPanel::showState() {
    if (!header_.error.isEmpty()) {
        setState(State::Unreadable);
        return;
    }
    const QString live = liveWeightsHash();
    if (header_.weightsHash == live && !live.isEmpty()) setState(State::Matches);
    else if (header_.weightsHash == session_->baseHash() && weightEditsApplied() > 0) setState(State::EditsApplied);
    else setState(State::OtherWeights);
}

void MendEditorPanel::setState(State s) {
    state_ = s;
    const QPalette pal = palette();
    const QString good = goodColor(pal).name(), bad = errorColor(pal).name();
    const QString file = QStringLiteral("<tt>%1</tt>").arg(path_.toHtmlEscaped());
    QString html, note;
    const int applied = weightEditsApplied();
    switch (s) {
    case State::NoModel: html = tr("Open a model first."); break;
    case State::NoEditor:
        html = tr("<span style=\"color:%1\">✖ No editor</span>: MEND needs an editor network trained for this "
                  "model's weights (%2), and this model folder has no <tt>mend-editor.safetensors</tt>. Train one "
                  "below, or choose a file.")
                   .arg(bad, shortHash(liveWeightsHash()));
        note = tr("No editor yet: train one for these weights.");
        break;
    case State::Reading: html = tr("Reading the editor %1…").arg(file); break;
    case State::Unreadable:
        html = tr("<span style=\"color:%1\">✖ Not a usable editor</span>: %2").arg(bad, header_.error.toHtmlEscaped());
        note = tr("Choose another file, or train an editor for these weights.");
        break;
    case State::Matches:
    case State::OtherWeights:
    case State::EditsApplied: {
        html = tr("Editor: %1 (%2)").arg(file, megabytes(header_.bytes));
        html += tr("<br>Trained %1 steps on %2 / %3 / %4 subjects (train / validation / test); edits the MLP "
                   "matrices of layer%5 %6; rank %7, %8 hidden layer%9.")
                    .arg(header_.steps)
                    .arg(header_.trainSubjects)
                    .arg(header_.validationSubjects)
                    .arg(header_.testSubjects)
                    .arg(header_.layers.size() == 1 ? QString() : QStringLiteral("s"), layerList(header_.layers))
                    .arg(header_.rank)
                    .arg(header_.nHidden)
                    .arg(header_.nHidden == 1 ? QString() : QStringLiteral("s"));
        if (s == State::Matches) {
            html += tr("<br>Made for weights %1: <span style=\"color:%2\">✔ matches the live weights</span>.")
                        .arg(shortHash(header_.weightsHash), good);
        } else if (s == State::EditsApplied) {
            html += tr("<br>Made for weights %1, this model's original weights: <span style=\"color:%2\">✖ does not "
                       "match the live weights</span> (%3): %4 in this session changed them. An editor is learned "
                       "for one set of weights, and MEND refuses it on any other. Undo %5 (History, Ctrl+Z) to use "
                       "it, or train an editor for the weights as they are now.")
                        .arg(shortHash(header_.weightsHash), bad, shortHash(liveWeightsHash()), editsText(applied),
                             applied == 1 ? tr("that edit") : tr("those edits"));
            note = tr("Training now makes an editor for the <b>edited</b> weights (%1 applied); it is kept beside "
                      "the others and found again whenever the weights are these.")
                       .arg(editsText(applied));
        } else {
            html += tr("<br>Made for weights %1: <span style=\"color:%2\">✖ other weights than the live ones</span> "
                       "(%3). MEND refuses it: train an editor for this model, or choose another file.")
                        .arg(shortHash(header_.weightsHash), bad, shortHash(liveWeightsHash()));
            note = tr("No editor for these weights: train one.");
        }
        break;
    }
    }
    status_->setText(html);
    status_->setToolTip(state_ == State::Matches || state_ == State::OtherWeights || state_ == State::EditsApplied
                            ? tr("Editor made for %1\nLive weights %2").arg(header_.weightsHash, liveWeightsHash())
                            : QString());
    if (!note.isEmpty())
        trainNote_->setText(note + QStringLiteral(" ") +
                            tr("Meta-training as <tt>kme train-mend</tt>: edit loss on each fact and its paraphrases "
                               "after one editor step, a locality KL on unrelated prompts; it writes %1.")
                                .arg(QStringLiteral("<tt>%1</tt>").arg(trainOutputPath().toHtmlEscaped())));
    updateTrainControls();
    Q_EMIT stateChanged();
}

QString MendEditorPanel::trainOutputPath() const {
    if (!model_) return {};
    const QString live = liveWeightsHash();
    // The model folder's own editor, when it has none and the weights are its own (kme edit finds it there too).
    if (!model_->folder().empty() && weightEditsApplied() == 0) {
        const QString folder = QString::fromStdString(model_->folder());
        const QString own = QDir(folder).filePath(QStringLiteral("mend-editor.safetensors"));
        if (!QFileInfo::exists(own) && QFileInfo(folder).isWritable()) return own;
    }
    const QString name = live.isEmpty() ? QStringLiteral("editor-%1").arg(QDateTime::currentDateTime().toString(
                                                                             QStringLiteral("yyyyMMdd-HHmmss")))
                                        : live.left(16);
    return QDir(trainedEditorFolder()).filePath(name + QStringLiteral(".safetensors"));
}

QPushButton* MendEditorPanel::trainButton() const { return controls_->runButton(); }

QPushButton* MendEditorPanel::cancelTrainButton() const { return controls_->cancelButton(); }

void MendEditorPanel::updateTrainControls() {
    const bool offer = training_ || state_ == State::NoEditor || state_ == State::Unreadable ||
                       state_ == State::OtherWeights || state_ == State::EditsApplied;
    trainBox_->setVisible(offer);
    const bool busy = runner_->isBusy();
    controls_->setRunEnabled(model_ && !busy && !facts_->text().trimmed().isEmpty());
    controls_->setBusy(training_);
    choose_->setEnabled(!training_);
    useDefault_->setEnabled(!training_ && !chosen_.isEmpty());
    facts_->setEnabled(!training_);
    minutes_->setEnabled(!training_);
}

QString MendEditorPanel::runBlocker() const {
    if (training_) return tr("An editor is being trained (MEND editor box): wait for it or cancel it.");
    switch (state_) {
    case State::NoModel: return tr("Open a model first.");
    case State::NoEditor: return tr("MEND needs a trained editor: train one in the MEND editor box, or choose a file.");
    case State::Reading: return tr("Reading the MEND editor…");
    case State::Unreadable: return tr("The MEND editor cannot be used: %1").arg(header_.error);
    case State::Matches: return {};
    case State::OtherWeights:
        return tr("The MEND editor was made for other weights: train one for this model, or choose another file.");
    case State::EditsApplied:
        return tr("The MEND editor fits the original weights, and edits changed them: undo the edits, or train an "
                  "editor for the edited weights.");
    }
    return {};
}

}  // namespace kme::app
