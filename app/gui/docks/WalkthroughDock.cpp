#include "app/gui/docks/WalkthroughDock.h"

#include <QAction>
#include <QComboBox>
#include <QFile>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTabWidget>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/docks/HistoryDock.h"
#include "app/gui/tabs/CompareTab.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/LocateDatasetView.h"
#include "app/gui/tabs/LocateTab.h"
#include "engine/edit/EditRequest.h"
#include "engine/eval/Dataset.h"
#include "engine/trace/CausalTrace.h"

namespace kme::app {

namespace {

QString percent(double p) {
    if (std::isnan(p)) return QStringLiteral("–");
    return QStringLiteral("%1%").arg(100.0 * p, 0, 'f', p < 0.01 ? 2 : 1);
}

QString html(const QString& text) { return text.toHtmlEscaped(); }

QString topToken(const CompareSide& side) {
    return side.top.empty() ? QString() : QString::fromStdString(side.top.front().first);
}

}  // namespace

WalkthroughDock::WalkthroughDock(MainWindow* window) : QDockWidget(tr("Walk-through"), window), window_(window) {
    setObjectName(QStringLiteral("walkthroughDock"));
    auto* page = new QWidget(this);
    auto* layout = new QVBoxLayout(page);
    title_ = new QLabel(page);
    title_->setObjectName(QStringLiteral("walkthroughTitle"));
    QFont bold = title_->font();
    bold.setBold(true);
    title_->setFont(bold);
    factRow_ = new QWidget(page);
    auto* factLayout = new QHBoxLayout(factRow_);
    factLayout->setContentsMargins(0, 0, 0, 0);
    factCombo_ = new QComboBox(factRow_);
    factCombo_->setObjectName(QStringLiteral("walkthroughFact"));
    factCombo_->setToolTip(tr("The fact the walk-through locates and rewrites: the demo's Colosseum, or one of the "
                              "model's fact file"));
    auto* factLabel = new QLabel(tr("&Fact:"), factRow_);
    factLabel->setBuddy(factCombo_);
    factLayout->addWidget(factLabel);
    factLayout->addWidget(factCombo_, 1);
    browser_ = new QTextBrowser(page);
    browser_->setObjectName(QStringLiteral("walkthroughBrowser"));
    browser_->setOpenExternalLinks(true);
    browser_->setFrameShape(QFrame::NoFrame);
    resultLabel_ = new QLabel(page);
    resultLabel_->setObjectName(QStringLiteral("walkthroughResult"));
    resultLabel_->setWordWrap(true);
    resultLabel_->setTextFormat(Qt::RichText);
    resultLabel_->setFrameShape(QFrame::StyledPanel);
    resultLabel_->setMargin(6);
    resultLabel_->setAutoFillBackground(true);
    resultLabel_->setBackgroundRole(QPalette::AlternateBase);
    resultLabel_->hide();
    state_ = new QLabel(page);
    state_->setObjectName(QStringLiteral("walkthroughState"));
    state_->setWordWrap(true);
    back_ = new QPushButton(tr("← Back"), page);
    doIt_ = new QPushButton(tr("Do it for me"), page);
    doIt_->setObjectName(QStringLiteral("walkthroughDoIt"));
    doIt_->setToolTip(tr("Fill in the fields and start this step in the window; you can also do it by hand"));
    next_ = new QPushButton(tr("Next →"), page);
    next_->setObjectName(QStringLiteral("walkthroughNext"));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(back_);
    buttons->addStretch(1);
    buttons->addWidget(doIt_);
    buttons->addWidget(next_);
    layout->addWidget(title_);
    layout->addWidget(factRow_);
    layout->addWidget(browser_, 1);
    layout->addWidget(resultLabel_);
    layout->addWidget(state_);
    layout->addLayout(buttons);
    setWidget(page);

    connect(factCombo_, &QComboBox::currentIndexChanged, this, [this](int index) {
        if (index < 0 || index >= int(choices_.size()) || step_ != kWelcome) return;
        fact_ = choices_[size_t(index)];
        show(kWelcome);  // the page names the fact
    });
    connect(this, &QDockWidget::visibilityChanged, this, [this](bool visible) {
        if (visible && step_ == kWelcome) fillFactChoices();
    });
    connect(back_, &QPushButton::clicked, this, &WalkthroughDock::back);
    connect(next_, &QPushButton::clicked, this, &WalkthroughDock::next);
    connect(doIt_, &QPushButton::clicked, this, &WalkthroughDock::doStep);
    // Whoever does a step (the user or "Do it for me"), the tab says so.
    connect(window_->locateTab(), &LocateTab::traceFinished, this, &WalkthroughDock::onTraceFinished);
    connect(window_->locateTab(), &LocateTab::editLayerChosen, this, &WalkthroughDock::onLayerChosen);
    connect(window_->editTab(), &EditTab::editFinished, this, &WalkthroughDock::onEditFinished);
    connect(window_->compareTab(), &CompareTab::comparisonFinished, this, &WalkthroughDock::onComparisonFinished);
    // Undo rebuilds the weights on the worker; weightsChanged comes with the new hash.
    connect(window_->session(), &SessionController::weightsChanged, this, &WalkthroughDock::onWeightsChanged);
    connect(window_->jobRunner(), &JobRunner::busyChanged, this, &WalkthroughDock::updateButtons);
    show(kWelcome);
}

QString WalkthroughDock::stepId(Step step) {
    switch (step) {
        case kWelcome: return QStringLiteral("welcome");
        case kLocate: return QStringLiteral("locate");
        case kLayer: return QStringLiteral("layer");
        case kEdit: return QStringLiteral("edit");
        case kCompare: return QStringLiteral("compare");
        case kUndo: return QStringLiteral("undo");
        case kFinished: case kStepCount: break;
    }
    return QStringLiteral("finished");
}

void WalkthroughDock::fillFactChoices() {
    const auto model = window_->model();
    const QString file = LocateDatasetView::defaultFactFile(model.get());
    if (!choices_.empty() && file == choicesSource_) return;
    choicesSource_ = file;
    choices_.assign(1, WalkthroughFact{});  // the Colosseum
    if (!file.isEmpty()) {
        try {
            const kme::Dataset facts = kme::loadDataset(file.toStdString());
            // Facts spread over the file, so that every relation has a turn.
            constexpr size_t kChoices = 40;
            const size_t step = std::max<size_t>(1, facts.records.size() / kChoices);
            for (size_t i = 0; i < facts.records.size() && choices_.size() <= kChoices; i += step) {
                const kme::FactRecord& r = facts.records[i];
                if (r.targetTrue.empty() || r.subject.empty()) continue;
                WalkthroughFact f;
                f.prompt = QString::fromStdString(r.filledPrompt());
                f.subject = QString::fromStdString(r.subject);
                f.targetNew = QLatin1Char(' ') + QString::fromStdString(r.targetNew).trimmed();
                f.targetTrue = QLatin1Char(' ') + QString::fromStdString(r.targetTrue).trimmed();
                if (!f.prompt.contains(f.subject) || f.subject == choices_.front().subject) continue;
                choices_.push_back(f);
            }
        } catch (const std::exception&) {
            // A fact file that does not load: the Colosseum alone.
        }
    }
    const QSignalBlocker block(factCombo_);
    factCombo_->clear();
    for (const WalkthroughFact& f : choices_)
        factCombo_->addItem(QStringLiteral("%1: %2 → %3").arg(f.subject, f.targetTrue.trimmed(), f.targetNew.trimmed()));
    for (size_t i = 0; i < choices_.size(); ++i)
        if (choices_[i].prompt == fact_.prompt && choices_[i].targetNew == fact_.targetNew) factCombo_->setCurrentIndex(int(i));
}

void WalkthroughDock::start() {
    editId_ = 0;
    QDockWidget::show();
    raise();
    show(kWelcome);
}

void WalkthroughDock::goTo(Step step) { show(step); }

void WalkthroughDock::next() {
    if (step_ + 1 < kStepCount) show(Step(step_ + 1));
    else hide();
}

void WalkthroughDock::back() {
    if (step_ > kWelcome) show(Step(step_ - 1));
}

void WalkthroughDock::show(Step step) {
    step_ = step;
    running_ = false;
    result_.clear();
    resultLabel_->clear();
    resultLabel_->hide();
    done_ = step == kWelcome || step == kFinished;
    const int shown = int(kFinished) - 1;  // the numbered steps: locate .. undo
    if (step == kWelcome && isVisible()) fillFactChoices();  // read the fact file only once shown
    factRow_->setVisible(step == kWelcome);
    title_->setText(step == kWelcome    ? tr("Guided walk-through")
                    : step == kFinished ? tr("Done — where to go next")
                                        : tr("Step %1 of %2").arg(int(step)).arg(shown));
    QString text;
    QFile file(QStringLiteral(":/walkthrough/%1.html").arg(stepId(step)));
    if (file.open(QIODevice::ReadOnly)) text = QString::fromUtf8(file.readAll());
    // The page's placeholders: this walk-through's fact.
    text.replace(QStringLiteral("{prompt}"), html(fact_.prompt))
        .replace(QStringLiteral("{subject}"), html(fact_.subject))
        .replace(QStringLiteral("{new}"), html(fact_.targetNew.trimmed()))
        .replace(QStringLiteral("{true}"), html(fact_.targetTrue.trimmed()));
    browser_->setHtml(text);
    setState(done_ ? QString() : tr("Do it by hand in the window, or press “Do it for me”."));
    // Tabs follow the walk-through, so the Learn panel explains the same view.
    QTabWidget* tabs = window_->tabs();
    if (step == kLocate || step == kLayer) tabs->setCurrentWidget(window_->locateTab());
    if (step == kEdit) tabs->setCurrentWidget(window_->editTab());
    if (step == kCompare) tabs->setCurrentWidget(window_->compareTab());
    if (step == kUndo) onWeightsChanged();  // already undone?
    updateButtons();
    Q_EMIT stepChanged(int(step));
}

void WalkthroughDock::setState(const QString& text, bool error) {
    state_->setText(text);
    state_->setStyleSheet(error ? QStringLiteral("color: #c62828;") : QString());
}

void WalkthroughDock::updateButtons() {
    back_->setEnabled(step_ > kWelcome);
    const bool hasAction = step_ != kWelcome && step_ != kFinished;
    doIt_->setVisible(hasAction);
    doIt_->setEnabled(hasAction && !done_ && !running_);
    next_->setText(step_ == kWelcome ? tr("Start →") : step_ == kFinished ? tr("Close") : done_ ? tr("Next →") : tr("Skip →"));
}

void WalkthroughDock::complete(const QString& result) {
    done_ = true;
    running_ = false;
    result_ = result;
    resultLabel_->setText(QStringLiteral("<b>%1</b> %2").arg(tr("What happened:"), result));
    resultLabel_->show();
    setState(tr("✓ Done. Press “Next →” when you are ready."));
    updateButtons();
    Q_EMIT stepCompleted(int(step_));
}

bool WalkthroughDock::doStep() {
    if (done_) return true;
    if (!window_->model()) {
        setState(tr("Load a model first: File ▸ Open model folder… (the demo is in projects/demo/model)."), true);
        return false;
    }
    JobRunner* runner = window_->jobRunner();
    if (runner->isBusy()) {
        if (waitForRunner_) return true;  // already waiting
        // E.g. the Edit tab still reads the current answer: go on once it is done.
        setState(tr("Waiting for the running job to finish…"));
        running_ = true;
        updateButtons();
        waitForRunner_ = connect(runner, &JobRunner::busyChanged, this, [this](bool busy) {
            if (busy) return;
            disconnect(waitForRunner_);
            waitForRunner_ = {};
            running_ = false;
            doStep();
        });
        return true;
    }
    QTabWidget* tabs = window_->tabs();
    bool started = false;
    switch (step_) {
        case kLocate: {
            LocateTab* locate = window_->locateTab();
            tabs->setCurrentWidget(locate);
            locate->showDatasetView(false);
            locate->setPrompt(fact_.prompt);
            locate->setSubject(fact_.subject);
            locate->answerEdit()->clear();  // the model's own answer
            started = locate->runTrace();
            break;
        }
        case kLayer: {
            LocateTab* locate = window_->locateTab();
            tabs->setCurrentWidget(locate);
            const int layer = locate->suggestedEditLayer();
            if (layer < 0) {
                setState(tr("There is no finished trace to choose from: go back one step and run it."), true);
                return false;
            }
            locate->chooseEditLayer(layer);
            return true;  // editLayerChosen has completed the step
        }
        case kEdit: {
            EditTab* edit = window_->editTab();
            tabs->setCurrentWidget(edit);
            const QString templ = QString::fromStdString(
                kme::templateFromPrompt(fact_.prompt.toStdString(), fact_.subject.toStdString()));
            edit->setMethod(kme::EditMethod::Rome);
            edit->setRequest(templ, fact_.subject, fact_.targetNew, fact_.targetTrue);
            if (const int layer = window_->locateTab()->chosenEditLayer(); layer >= 0) edit->setLayer(layer);
            started = edit->runEdit();
            break;
        }
        case kCompare: {
            CompareTab* compare = window_->compareTab();
            tabs->setCurrentWidget(compare);
            compare->setPoints(0, -1);
            started = compare->compare();
            break;
        }
        case kUndo: {
            QAction* undo = window_->historyDock()->undoAction();
            if (!undo->isEnabled()) {
                setState(tr("There is no enabled edit to undo."), true);
                return false;
            }
            undo->trigger();
            return true;  // weightsChanged completes the step
        }
        case kWelcome: case kFinished: case kStepCount:
            next();
            return true;
    }
    if (!started) {
        setState(tr("This step could not start: see the message in the tab."), true);
        return false;
    }
    running_ = true;
    setState(tr("Running… (the progress bar and Cancel are in the status bar)"));
    updateButtons();
    return true;
}

void WalkthroughDock::onTraceFinished(bool ok) {
    if (step_ != kLocate || done_) return;
    if (!ok) {
        running_ = false;
        setState(tr("The trace did not finish; try again."), true);
        updateButtons();
        return;
    }
    const auto r = window_->locateTab()->lastResult();
    if (!r) return;
    const QString answer = html(QString::fromStdString(r->answerToken).trimmed());
    QString text = tr("The model answers <b>%1</b> with p = %2. With the subject's embeddings corrupted by noise, "
                      "p(%1) falls to %3 on average.")
                       .arg(answer, percent(r->highScore), percent(r->lowScore));
    const int layer = window_->locateTab()->suggestedEditLayer();
    const auto mlp = r->scores.find(kme::TraceKind::Mlp);
    const int last = r->subjectEnd - 1;
    if (layer >= 0 && mlp != r->scores.end() && last >= 0 && last < int(mlp->second.size()))
        text += tr(" Restoring the MLP output at the subject's last token (“%1”) brings it back most at "
                   "<b>layer %2</b>: p = %3. That is where the fact is read out of the weights.")
                    .arg(html(QString::fromStdString(r->tokens[size_t(last)])))
                    .arg(layer)
                    .arg(percent(mlp->second[size_t(last)][size_t(layer)]));
    complete(text);
}

void WalkthroughDock::onLayerChosen(int layer) {
    if (step_ != kLayer || done_ || layer < 0) return;
    complete(tr("Layer %1 is chosen: the Edit tab now holds the prompt as a template (the subject replaced by {}), "
                "the subject and layer %1.")
                 .arg(layer));
}

void WalkthroughDock::onEditFinished(bool ok) {
    if (step_ != kEdit || done_) return;
    if (!ok) {
        running_ = false;
        setState(tr("The edit did not finish; see the Edit tab's message."), true);
        updateButtons();
        return;
    }
    editId_ = window_->editTab()->lastEditId();
    const kme::EditRecord* record = window_->session()->edit(editId_);
    complete(tr("The edit is applied and saved: “%1” is in the History dock (checked = applied). "
                "The weights hash changed from %2… to %3….")
                 .arg(record ? html(QString::fromStdString(record->name)) : QString::number(editId_),
                      window_->session()->baseHash().left(12), window_->session()->currentHash().left(12)));
}

void WalkthroughDock::onComparisonFinished(bool ok) {
    if (step_ != kCompare || done_) return;
    if (!ok) {
        running_ = false;
        setState(tr("The comparison did not finish."), true);
        updateButtons();
        return;
    }
    complete(compareSummary());
}

QString WalkthroughDock::compareSummary() const {
    const auto& rows = window_->compareTab()->rows();
    QStringList parts;
    int para = 0, paraFollow = 0, neigh = 0, neighKept = 0;
    for (const CompareRow& row : rows) {
        const QString target = html(QString::fromStdString(row.targetNew).trimmed());
        if (row.kind == "edit")
            parts << tr("On the edit prompt p(%1) went from %2 to %3.")
                         .arg(target, percent(row.before.pNew), percent(row.after.pNew));
        if (row.kind == "paraphrase") {
            ++para;
            paraFollow += row.after.pNew > row.after.pTrue;
        }
        if (row.kind == "neighbour") {
            ++neigh;
            neighKept += topToken(row.after) == topToken(row.before);
        }
    }
    if (para > 0)
        parts << tr("%1 of %2 paraphrases now prefer the new answer (generalisation).").arg(paraFollow).arg(para);
    if (neigh > 0)
        parts << tr("%1 of %2 neighbouring subjects keep their top answer (specificity).").arg(neighKept).arg(neigh);
    if (parts.isEmpty()) parts << tr("%1 prompts compared.").arg(rows.size());
    return parts.join(QLatin1Char(' '));
}

void WalkthroughDock::onWeightsChanged() {
    if (step_ != kUndo || done_) return;
    const kme::EditRecord* record = editId_ ? window_->session()->edit(editId_) : nullptr;
    if (!record || record->enabled) return;
    SessionController* s = window_->session();
    const bool original = !s->currentHash().isEmpty() && s->currentHash() == s->baseHash();
    complete(original ? tr("The edit is disabled and the weights are the checkpoint's again, bit for bit "
                           "(hash %1…). Ctrl+Shift+Z applies it again.")
                            .arg(s->currentHash().left(12))
                      : tr("The edit is disabled; the weights are rebuilt from the originals plus the edits still "
                           "enabled. Ctrl+Shift+Z applies it again."));
}

}  // namespace kme::app
