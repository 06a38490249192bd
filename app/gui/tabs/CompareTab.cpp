#include "app/gui/tabs/CompareTab.h"

#include <QComboBox>
#include <QDateTime>
#include <QFile>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QShowEvent>
#include <QTableWidget>
#include <QToolButton>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>
#include <optional>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/CompareRecords.h"
#include "app/gui/tabs/CompareStatePicker.h"
#include "app/gui/widgets/JobControls.h"
#include "app/gui/widgets/SavedRunsCombo.h"
#include "engine/core/Error.h"
#include "engine/edit/Payload.h"
#include "engine/model/Model.h"
#include "engine/session/StateComparison.h"
#include "widgets/TokenText.h"

namespace kme::app {

namespace {

std::string toPath(const QString& path) { return QFile::encodeName(path).toStdString(); }
QString shortHash(const QString& h) { return h.size() > 12 ? h.left(12) + QChar(0x2026) : h; }

// The engine's view of a state the session controller built.
kme::StateToBuild toBuild(const WeightState& s) {
    kme::StateToBuild t;
    t.state.label = s.label.toStdString();
    t.state.editIds = s.editIds;
    t.state.expectedHash = s.expectedHash;
    t.payloads = s.deltas;
    return t;
}

}  // namespace

CompareTab::CompareTab(JobRunner* runner, SessionController* session, QWidget* parent)
    : QWidget(parent), runner_(runner), session_(session) {
    auto* layout = new QVBoxLayout(this);

    auto* pointsRow = new QHBoxLayout;
    pickerA_ = new CompareStatePicker(session_, 0, this);
    pickerA_->combo()->setObjectName(QStringLiteral("beforeCombo"));
    pickerA_->editsButton()->setObjectName(QStringLiteral("beforeEditsButton"));
    pickerB_ = new CompareStatePicker(session_, -1, this);
    pickerB_->combo()->setObjectName(QStringLiteral("afterCombo"));
    pickerB_->editsButton()->setObjectName(QStringLiteral("afterEditsButton"));
    auto* beforeLabel = new QLabel(tr("State &A:"), this);
    beforeLabel->setBuddy(pickerA_->combo());
    auto* afterLabel = new QLabel(tr("State &B:"), this);
    afterLabel->setBuddy(pickerB_->combo());
    pointsRow->addWidget(beforeLabel);
    pointsRow->addWidget(pickerA_);
    pointsRow->addSpacing(12);
    pointsRow->addWidget(afterLabel);
    pointsRow->addWidget(pickerB_);
    pointsRow->addStretch(1);
    layout->addLayout(pointsRow);
    controls_ = new JobControls(tr("&Compare"),
                                {QStringLiteral("compareButton"), QStringLiteral("compareCancel"),
                                 QStringLiteral("compareProgress"), QStringLiteral("compareStatus")},
                                this);
    controls_->setRunToolTip(tr("Run every prompt in both states (Ctrl+R)"));
    status_ = controls_->statusLabel();
    saved_ = new SavedRunsCombo(tr("Save&d comparisons:"), QStringLiteral("compareSavedComparisons"),
                                tr("Comparisons saved in this session, newest first: choose one to show it again"),
                                this);
    controls_->addTrailingWidget(saved_);
    layout->addWidget(controls_);

    auto* promptRow = new QHBoxLayout;
    userPrompt_ = new QLineEdit(this);
    userPrompt_->setObjectName(QStringLiteral("userPromptEdit"));
    userPrompt_->setPlaceholderText(tr("A prompt of your own, e.g. one that depends on the edited fact"));
    userPrompt_->setClearButtonEnabled(true);
    addPrompt_ = new QPushButton(tr("A&dd prompt"), this);
    clearPrompts_ = new QPushButton(tr("Remove &mine"), this);
    clearPrompts_->setToolTip(tr("Remove the prompts you added"));
    auto* promptLabel = new QLabel(tr("&Your prompt:"), this);
    promptLabel->setBuddy(userPrompt_);
    promptRow->addWidget(promptLabel);
    promptRow->addWidget(userPrompt_, 1);
    promptRow->addWidget(addPrompt_);
    promptRow->addWidget(clearPrompts_);
    layout->addLayout(promptRow);

    states_ = new QLabel(this);
    states_->setObjectName(QStringLiteral("compareStates"));
    states_->setWordWrap(true);
    states_->setTextFormat(Qt::RichText);
    states_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(states_);
    targets_ = new QLabel(this);
    targets_->setObjectName(QStringLiteral("compareTargets"));
    targets_->setWordWrap(true);
    targets_->setTextFormat(Qt::RichText);
    layout->addWidget(targets_);

    results_ = new CompareResultsView(this);
    layout->addWidget(results_, 1);

    autoTimer_ = new QTimer(this);
    autoTimer_->setSingleShot(true);
    autoTimer_->setInterval(300);
    connect(autoTimer_, &QTimer::timeout, this, &CompareTab::maybeAutoCompare);

    connect(controls_, &JobControls::runClicked, this, &CompareTab::compare);
    connect(controls_, &JobControls::cancelClicked, this, [this] {
        if (computing_) runner_->cancel();
    });
    connect(runner_, &JobRunner::progress, this, [this](double done, double total) {
        if (computing_) controls_->setProgress(done, total);
    });
    auto addTyped = [this] {
        addUserPrompt(userPrompt_->text());
        userPrompt_->clear();
    };
    connect(addPrompt_, &QPushButton::clicked, this, addTyped);
    connect(userPrompt_, &QLineEdit::returnPressed, this, addTyped);
    connect(clearPrompts_, &QPushButton::clicked, this, [this] {
        userPrompts_.clear();
        updateEnabled();
        autoTimer_->start();
    });
    for (CompareStatePicker* p : {pickerA_, pickerB_})
        connect(p, &CompareStatePicker::changed, this, [this] {
            updateEnabled();
            autoTimer_->start();
        });
    connect(runner_, &JobRunner::busyChanged, this, &CompareTab::updateEnabled);
    connect(session_, &SessionController::editsChanged, this, [this] {
        refreshPoints();
        autoTimer_->start();
    });
    connect(session_, &SessionController::weightsChanged, this, [this] {
        updateEnabled();
        autoTimer_->start();
    });
    connect(session_, &SessionController::sessionChanged, this, &CompareTab::showSaved);
    connect(saved_, &SavedRunsCombo::chosen, this, &CompareTab::showSavedComparison);
    refreshPoints();
    fillTable(QString(), QString());
    setModel(nullptr);
}

CompareTab::~CompareTab() = default;

void CompareTab::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    updateEnabled();
}

void CompareTab::addFactFile(const QString& path) {
    const QString absolute = QFileInfo(path).absoluteFilePath();
    if (!factFiles_.contains(absolute)) factFiles_ << absolute;
}

void CompareTab::addUserPrompt(const QString& prompt) {
    const QString p = prompt.trimmed().isEmpty() ? QString() : prompt;
    if (p.isEmpty() || userPrompts_.contains(p)) return;
    userPrompts_ << p;
    updateEnabled();
    autoTimer_->start();
}

void CompareTab::refreshPoints() {
    pickerA_->refresh();
    pickerB_->refresh();
    updateEnabled();
}

void CompareTab::setPoints(int beforePosition, int afterPosition) {
    pickerA_->setPosition(beforePosition);
    pickerB_->setPosition(afterPosition);
    updateEnabled();
}

void CompareTab::setStates(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    pickerA_->setEdits(a);
    pickerB_->setEdits(b);
    updateEnabled();
}

int CompareTab::beforePosition() const { return pickerA_->position(); }
int CompareTab::afterPosition() const { return pickerB_->position(); }
std::vector<int64_t> CompareTab::stateA() const { return pickerA_->editIds(); }
std::vector<int64_t> CompareTab::stateB() const { return pickerB_->editIds(); }
QComboBox* CompareTab::beforeCombo() const { return pickerA_->combo(); }
QComboBox* CompareTab::afterCombo() const { return pickerB_->combo(); }

QPushButton* CompareTab::compareButton() const { return controls_->runButton(); }

QPushButton* CompareTab::cancelButton() const { return controls_->cancelButton(); }

QComboBox* CompareTab::savedCombo() const { return saved_->combo(); }

bool CompareTab::isStale() const {
    return !shown_ || stateA() != shownBefore_ || stateB() != shownAfter_ || userPrompts_ != shownUserPrompts_;
}

void CompareTab::updateEnabled() {
    controls_->setRunEnabled(model_ && session_->live() && !runner_->isBusy(),
                             model_ ? QString() : tr("Open a model first (File ▸ Open model folder…)."));
    controls_->setBusy(computing_);
    saved_->setAvailable(!computing_ && !runner_->isBusy());
    clearPrompts_->setEnabled(!userPrompts_.isEmpty());
    if (shown_ && isStale() && !computing_)
        status_->setText(tr("The states, the edit history or your prompts changed since this table was computed: "
                            "press Compare to bring it up to date."));
}

void CompareTab::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    autoTimer_->start();
}

void CompareTab::maybeAutoCompare() {
    if (!isVisible() || !isStale() || computing_ || !model_ || runner_->isBusy()) return;
    if (session_->edits().empty() && userPrompts_.isEmpty()) return;
    compare();
}

bool CompareTab::compare() {
    auto live = session_->live();
    if (!model_ || !live || runner_->isBusy() || computing_) return false;
    const WeightState a = pickerA_->state(), b = pickerB_->state(), now = session_->liveState();
    const kme::StateToBuild buildA = toBuild(a), buildB = toBuild(b), buildNow = toBuild(now);

    // The prompts come from the edits in which the two states differ (most
    // recent first), else from the last edit.
    const std::vector<kme::ComparePromptSource> sources =
        kme::comparePromptSources(buildA.state, buildB.state, session_->edits());
    if (sources.empty() && userPrompts_.isEmpty()) {
        status_->setText(tr("Nothing to compare yet: run an edit in the Edit tab, or add a prompt of your own."));
        return false;
    }
    const int64_t focusId = sources.empty() ? 0 : sources.front().editId;

    // Fact files: the ones loaded in the Edit tab, the model's project, the demo project.
    std::vector<std::string> files;
    for (const QString& f : factFiles_) files.push_back(toPath(f));
    for (const std::string& f : kme::defaultCompareFactFiles(toPath(session_->facts().folder)))
        if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
    std::vector<std::string> prompts;
    for (const QString& p : userPrompts_) prompts.push_back(p.toStdString());

    struct Outcome {
        std::vector<CompareRow> rows;
        kme::StateComparisonResult result;
    };
    auto out = std::make_shared<Outcome>();
    const QStringList shownPrompts = userPrompts_;
    ComparedStates states;
    states.labelA = a.label;
    states.labelB = b.label;
    states.positionA = a.position;
    states.positionB = b.position;
    states.idsA = a.editIds;
    states.idsB = b.editIds;
    const bool started = runner_->start(
        tr("Comparing %1 with %2").arg(a.label, b.label),
        [live, buildA, buildB, buildNow, sources, prompts, files, out](const kme::ProgressFn& progress) {
            const std::vector<kme::Dataset> factSets = kme::loadCompareFactSets(files, false);
            out->rows = kme::buildCompareRows(sources, prompts, factSets);
            out->result = kme::compareStates(*live->stack, buildA, buildB, buildNow, out->rows, progress);
        },
        {},
        [this, out, states, shownPrompts, focusId](JobOutcome outcome, const QString& message) mutable {
            computing_ = false;
            if (outcome != JobOutcome::Succeeded) {
                status_->setText(outcome == JobOutcome::Cancelled ? tr("Comparison cancelled.")
                                                                  : tr("The comparison failed: %1").arg(message));
                updateEnabled();
                Q_EMIT comparisonFinished(false);
                return;
            }
            rows_ = std::move(out->rows);
            states.hashA = out->result.hashA;
            states.hashB = out->result.hashB;
            shown_ = true;
            shownBefore_ = states.idsA;
            shownAfter_ = states.idsB;
            shownUserPrompts_ = shownPrompts;
            const kme::EditRecord* focus = session_->edit(focusId);
            QString focusText;
            if (focus)
                focusText = tr("Prompts of #%1 “%2”: ")
                                .arg(focus->position)
                                .arg(QString::fromStdString(focus->name).toHtmlEscaped());
            fillTable(states.labelA, states.labelB);
            targets_->setText(focusText + targets_->text());
            showStates(states);
            savePreviews(states);
            updateEnabled();
            Q_EMIT comparisonFinished(true);
        });
    if (!started) return false;
    computing_ = true;
    status_->setText(tr("Computing %1 and %2…").arg(a.label, b.label));
    updateEnabled();
    return true;
}

void CompareTab::fillTable(const QString& beforeLabel, const QString& afterLabel) {
    results_->setRows(&rows_, beforeLabel, afterLabel);
    if (rows_.empty()) {
        targets_->setText(tr("Run an edit in the Edit tab, then press Compare: each prompt is answered in both "
                             "states. Highlighted cells changed."));
        return;
    }
    const CompareRow& first = rows_.front();
    targets_->setText(tr("p(new) = p(<b>%1</b>), p(true) = p(<b>%2</b>). Highlighted: what changed between the two "
                         "states.")
                          .arg(kme::widgets::visibleToken(QString::fromStdString(first.targetNew)).toHtmlEscaped(),
                               first.targetTrue.empty()
                                   ? tr("unknown")
                                   : kme::widgets::visibleToken(QString::fromStdString(first.targetTrue)).toHtmlEscaped()));
}

void CompareTab::showStates(const ComparedStates& s) {
    shownHashA_ = QString::fromStdString(s.hashA);
    shownHashB_ = QString::fromStdString(s.hashB);
    const QString live = session_->currentHash();
    auto line = [&](const QString& name, const QString& label, const std::vector<int64_t>& ids, const QString& hash) {
        QString text = tr("<b>%1</b> %2").arg(name, label.toHtmlEscaped());
        if (ids.size() == 1) {
            if (const kme::EditRecord* e = session_->edit(ids.front()))
                text += QStringLiteral(" — ") + QString::fromStdString(e->name).toHtmlEscaped();
        } else {
            text += ids.empty() ? tr(" (no edit)") : tr(" (%1 edits)").arg(ids.size());
        }
        if (!hash.isEmpty()) {
            text += tr(", state <tt>%1</tt>").arg(shortHash(hash).toHtmlEscaped());
            if (hash == live) text += tr(" = the session's");
        }
        return text;
    };
    states_->setText(line(tr("A:"), s.labelA, s.idsA, shownHashA_) + QStringLiteral(" &nbsp; · &nbsp; ") +
                     line(tr("B:"), s.labelB, s.idsB, shownHashB_));
    states_->setToolTip(tr("State hashes (weights + enabled adapters + context):\nA %1\nB %2\nsession now %3")
                            .arg(shownHashA_, shownHashB_, live));
}

void CompareTab::savePreviews(const ComparedStates& states) {
    if (rows_.empty()) return;
    const std::string id = (QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs) +
                            QStringLiteral("#%1").arg(++comparisonCounter_))
                               .toStdString();
    // The edit the comparison is about: the most recent one the two states differ in.
    std::optional<int64_t> editId;
    for (auto it = session_->edits().rbegin(); it != session_->edits().rend(); ++it) {
        const bool inA = std::find(states.idsA.begin(), states.idsA.end(), it->id) != states.idsA.end();
        const bool inB = std::find(states.idsB.begin(), states.idsB.end(), it->id) != states.idsB.end();
        if (inA != inB) {
            editId = it->id;
            break;
        }
    }
    int saved = 0;
    QString error;
    // Without a session, one is created first; its sessionChanged must not clear this table.
    saving_ = true;
    const bool haveSession = session_->ensureSession(&error);
    saving_ = false;
    if (haveSession)
        for (kme::PreviewRecord& p : comparisonPreviews(rows_, states, editId, id)) {
            if (!session_->addPreview(std::move(p), &error)) break;
            ++saved;
        }
    if (kme::SessionStore* store = session_->store()) {
        try {
            listSaved(store->listPreviews(), id);  // the new comparison in the saved list
        } catch (const kme::Error&) {
            // The list keeps what it had.
        }
    }
    if (saved == int(rows_.size()))
        status_->setText(tr("%1 compared with %2: %3 prompts, saved in session “%4”.")
                             .arg(states.labelA, states.labelB)
                             .arg(rows_.size())
                             .arg(session_->sessionName()));
    else
        status_->setText(tr("%1 compared with %2; the comparison could not be saved: %3")
                             .arg(states.labelA, states.labelB, error));
}

qint64 CompareTab::listSaved(const std::vector<kme::PreviewRecord>& previews, const std::string& shownId) {
    const std::vector<SavedComparisonEntry> entries = savedComparisons(previews);
    QVector<SavedRunItem> items;  // newest first
    qint64 shown = 0;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        items.push_back({it->firstPreview,
                         tr("%1 vs %2 — %3").arg(it->labelA, it->labelB,
                                                 localTimeText(it->created, QStringLiteral("HH:mm"))),
                         tr("%1 compared with %2: %n prompt(s)\nSaved %3", nullptr, it->prompts)
                             .arg(it->labelA, it->labelB,
                                  localTimeText(it->created, QStringLiteral("yyyy-MM-dd HH:mm")))});
        if (it->id == shownId) shown = it->firstPreview;
    }
    saved_->setItems(items, shown);
    return items.isEmpty() ? 0 : items.front().id;
}

void CompareTab::showSaved() {
    if (saving_) return;
    std::vector<kme::PreviewRecord> previews;
    if (kme::SessionStore* store = session_->store()) {
        try {
            previews = store->listPreviews();
        } catch (const kme::Error&) {
        }
    }
    const qint64 newest = listSaved(previews, {});
    SavedComparison saved = lastSavedComparison(previews);
    const bool any = !saved.rows.empty();
    showComparison(std::move(saved));
    if (any) saved_->select(newest);
}

bool CompareTab::showSavedComparison(qint64 firstPreviewId) {
    if (computing_ || runner_->isBusy()) return false;
    std::vector<kme::PreviewRecord> previews;
    if (kme::SessionStore* store = session_->store()) {
        try {
            previews = store->listPreviews();
        } catch (const kme::Error& e) {
            status_->setText(tr("The saved comparison cannot be read: %1").arg(QString::fromStdString(e.what())));
            return false;
        }
    }
    for (const SavedComparisonEntry& e : savedComparisons(previews))
        if (e.firstPreview == firstPreviewId) {
            SavedComparison saved = savedComparison(previews, e.id);
            if (saved.rows.empty()) break;
            showComparison(std::move(saved));
            saved_->select(firstPreviewId);
            return true;
        }
    status_->setText(tr("Saved comparison #%1 cannot be shown: its records are missing or damaged.").arg(firstPreviewId));
    saved_->select(0);
    return false;
}

void CompareTab::showComparison(SavedComparison saved) {
    rows_.clear();
    shown_ = false;
    shownBefore_.clear();
    shownAfter_.clear();
    shownHashA_.clear();
    shownHashB_.clear();
    shownUserPrompts_.clear();
    userPrompts_.clear();
    states_->clear();
    refreshPoints();
    rows_ = std::move(saved.rows);
    userPrompts_ = saved.userPrompts;
    shownUserPrompts_ = userPrompts_;
    shown_ = !rows_.empty();
    const ComparedStates& s = saved.states;
    if (shown_) {
        shownBefore_ = s.idsA;
        shownAfter_ = s.idsB;
        setStates(s.idsA, s.idsB);
        // A history point keeps its name ("after #2" rather than "only #2").
        if (s.positionA != WeightState::kNoPosition && session_->stateAt(s.positionA).editIds == s.idsA)
            pickerA_->setPosition(s.positionA);
        if (s.positionB != WeightState::kNoPosition && session_->stateAt(s.positionB).editIds == s.idsB)
            pickerB_->setPosition(s.positionB);
        showStates(s);
    }
    fillTable(s.labelA, s.labelB);
    status_->setText(shown_ ? tr("Saved comparison of %1 with %2 (%3).").arg(s.labelA, s.labelB, saved.created)
                            : QString());
    updateEnabled();
}

}  // namespace kme::app
