#include "app/gui/tabs/EditTab.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTextBrowser>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/EditBatchBox.h"
#include "app/gui/tabs/EditSummary.h"
#include "app/gui/tabs/HparamForm.h"
#include "app/gui/tabs/MendEditorPanel.h"
#include "app/gui/widgets/JobControls.h"
#include "app/gui/widgets/Tones.h"
#include "engine/core/Error.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditSetup.h"
#include "engine/edit/EditWorkflow.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Model.h"

namespace kme::app {

namespace {

const char* const kAdvancedOpenKey = "edit/advancedOpen";

// The methods of the table grouped by family: each family a bold header
// item that cannot be chosen, each method its display name (data: the
// EditMethod), its tooltip what it changes and its paper. The table's first
// method is chosen.
void fillMethodCombo(QComboBox* combo) {
    auto* model = qobject_cast<QStandardItemModel*>(combo->model());
    for (kme::MethodFamily family : kme::methodFamilies()) {
        const auto rows = kme::methodsOf(family);
        if (rows.empty()) continue;
        auto* header = new QStandardItem(QString::fromUtf8(kme::familyDisplayName(family)));
        header->setFlags(Qt::NoItemFlags);  // neither selectable nor enabled: a label
        QFont bold = combo->font();
        bold.setBold(true);
        header->setFont(bold);
        header->setToolTip(QString::fromUtf8(kme::familySummary(family)));
        if (model) model->appendRow(header);  // the default model of a QComboBox
        else delete header;
        for (const kme::MethodInfo* m : rows) {
            combo->addItem(QString::fromUtf8(m->displayName), int(m->method));
            combo->setItemData(combo->count() - 1,
                               QStringLiteral("%1\n%2").arg(QString::fromUtf8(m->summary),
                                                            QString::fromStdString(kme::paperText(m->paper))),
                               Qt::ToolTipRole);
        }
    }
    combo->setCurrentIndex(combo->findData(int(kme::defaultMethod().method)));
}

}  // namespace

EditTab::EditTab(JobRunner* runner, SessionController* session, QWidget* parent)
    : QWidget(parent), runner_(runner), session_(session) {
    buildUi();
    answerTimer_ = new QTimer(this);
    answerTimer_->setSingleShot(true);
    answerTimer_->setInterval(400);
    connect(answerTimer_, &QTimer::timeout, this, &EditTab::readCurrentAnswer);
    connect(runner_, &JobRunner::busyChanged, this, [this](bool busy) {
        updateInputs();
        // Not from inside busyChanged: whoever just finished may chain a job.
        if (!busy && answerPending_) QTimer::singleShot(300, this, &EditTab::readCurrentAnswer);
    });
    connect(runner_, &JobRunner::progress, this, [this](double done, double total) {
        if (!editing_) return;
        controls_->setProgress(done, total);
    });
    setModel(nullptr);
}

EditTab::~EditTab() { QSettings().setValue(kAdvancedOpenKey, advancedToggle_->isChecked()); }

void EditTab::buildUi() {
    auto* layout = new QVBoxLayout(this);

    auto* requestBox = new QGroupBox(tr("Fact to change"), this);
    auto* form = new QFormLayout(requestBox);
    template_ = new QLineEdit(requestBox);
    template_->setObjectName(QStringLiteral("templateEdit"));
    template_->setPlaceholderText(tr("The prompt with {} where the subject goes: “The {} is located in the city of”"));
    subject_ = new QLineEdit(requestBox);
    subject_->setObjectName(QStringLiteral("subjectEdit"));
    subject_->setPlaceholderText(tr("Colosseum"));
    targetNew_ = new QLineEdit(requestBox);
    targetNew_->setObjectName(QStringLiteral("targetNewEdit"));
    targetNew_->setPlaceholderText(tr("the answer the model should give from now on, e.g. Paris"));
    targetTrue_ = new QLineEdit(requestBox);
    targetTrue_->setObjectName(QStringLiteral("targetTrueEdit"));
    targetTrue_->setPlaceholderText(tr("read from the model (its greedy answer); type to override"));
    targetTrue_->setToolTip(tr("The answer the model gives now (target_true). Only reported: p(true) should fall "
                               "after the edit."));
    message_ = new QLabel(requestBox);
    message_->setObjectName(QStringLiteral("editMessage"));
    message_->setTextFormat(Qt::RichText);
    message_->setWordWrap(true);
    form->addRow(tr("&Template:"), template_);
    form->addRow(tr("&Subject:"), subject_);
    form->addRow(tr("&New answer:"), targetNew_);
    form->addRow(tr("C&urrent answer:"), targetTrue_);
    form->addRow(QString(), message_);
    layout->addWidget(requestBox);

    auto* methodRow = new QHBoxLayout;
    method_ = new QComboBox(this);
    method_->setObjectName(QStringLiteral("methodCombo"));
    fillMethodCombo(method_);
    auto* methodLabel = new QLabel(tr("&Method:"), this);
    methodLabel->setBuddy(method_);
    layer_ = new QSpinBox(this);
    layer_->setObjectName(QStringLiteral("layerSpin"));
    layer_->setToolTip(tr("The MLP layer whose down projection changes (click a heatmap column in Locate to choose)"));
    lastLayer_ = new QSpinBox(this);
    lastLayer_->setObjectName(QStringLiteral("lastLayerSpin"));
    lastLayer_->setToolTip(tr("MEMIT: the last layer of the range (it receives the optimised value z)"));
    layerLabel_ = new QLabel(tr("&Layer:"), this);
    layerLabel_->setBuddy(layer_);
    toLabel_ = new QLabel(tr("to"), this);
    layerSource_ = new QLabel(this);
    layerSource_->setObjectName(QStringLiteral("layerSource"));
    layerSource_->setWordWrap(true);
    methodRow->addWidget(methodLabel);
    methodRow->addWidget(method_);
    methodRow->addSpacing(16);
    methodRow->addWidget(layerLabel_);
    methodRow->addWidget(layer_);
    methodRow->addWidget(toLabel_);
    methodRow->addWidget(lastLayer_);
    methodRow->addSpacing(8);
    methodRow->addWidget(layerSource_, 100);
    methodRow->addStretch(1);  // keeps the combo at the left when the layer widgets are hidden (MEND, IKE)
    layout->addLayout(methodRow);

    advancedToggle_ = new QToolButton(this);
    advancedToggle_->setObjectName(QStringLiteral("advancedToggle"));
    advancedToggle_->setText(tr("Advanced hyper-parameters"));
    advancedToggle_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    advancedToggle_->setCheckable(true);
    advancedToggle_->setAutoRaise(true);
    layout->addWidget(advancedToggle_);
    layout->addWidget(buildAdvanced());
    auto showAdvanced = [this](bool open) {
        advanced_->setVisible(open);
        advancedToggle_->setArrowType(open ? Qt::DownArrow : Qt::RightArrow);
    };
    connect(advancedToggle_, &QToolButton::toggled, this, showAdvanced);
    advancedToggle_->setChecked(QSettings().value(kAdvancedOpenKey, false).toBool());
    showAdvanced(advancedToggle_->isChecked());

    mend_ = new MendEditorPanel(runner_, session_, this);
    layout->addWidget(mend_);

    batch_ = new EditBatchBox(runner_, this);
    layout->addWidget(batch_);
    connect(batch_, &EditBatchBox::fileChosen, this, &EditTab::loadBatchFile);

    controls_ = new JobControls(tr("&Run edit"),
                                {QStringLiteral("runEditButton"), QStringLiteral("cancelEditButton"),
                                 QStringLiteral("editProgress"), QStringLiteral("editStatus")},
                                this);
    controls_->setRunToolTip(
        tr("Compute the edit and apply it to the live model (Ctrl+E); undo it in the History dock"));
    layout->addWidget(controls_);

    summary_ = new QTextBrowser(this);
    summary_->setObjectName(QStringLiteral("editSummary"));
    summary_->setPlaceholderText(tr("The result of an edit appears here: how likely the new and the old answer are "
                                    "before and after, and which weights changed."));
    summary_->setMinimumHeight(120);
    layout->addWidget(summary_, 1);

    for (QLineEdit* e : {template_, subject_, targetNew_}) connect(e, &QLineEdit::textChanged, this, &EditTab::updateInputs);
    for (QLineEdit* e : {template_, subject_})
        connect(e, &QLineEdit::textChanged, this, [this] {
            if (targetTrueAuto_) answerTimer_->start();
        });
    connect(targetTrue_, &QLineEdit::textEdited, this, [this](const QString& text) {
        targetTrueAuto_ = text.isEmpty();  // typed: the user's; emptied: the model's again
        if (targetTrueAuto_) answerTimer_->start();
    });
    connect(targetTrue_, &QLineEdit::textChanged, this, &EditTab::updateInputs);
    connect(batch_, &EditBatchBox::changed, this, &EditTab::updateInputs);
    connect(mend_, &MendEditorPanel::stateChanged, this, &EditTab::updateInputs);
    // The box's Choose button writes the "editor" hyper-parameter; typing it there tells the box.
    connect(mend_, &MendEditorPanel::chosenPathChanged, this, [this](const QString& path) {
        kme::EditHparams h = form_->hparams(defaults_);
        h.mendEditor = QFile::encodeName(path).toStdString();
        form_->setHparams(h);
    });
    connect(form_, &HparamForm::changed, this, &EditTab::syncMendEditor);
    connect(method_, &QComboBox::currentIndexChanged, this, [this] {
        applyDefaults();
        syncMendEditor();
        updateMethodRows();
        updateInputs();
    });
    connect(layer_, &QSpinBox::valueChanged, this, &EditTab::updateInputs);
    connect(lastLayer_, &QSpinBox::valueChanged, this, &EditTab::updateInputs);
    connect(controls_, &JobControls::runClicked, this, &EditTab::runEdit);
    connect(controls_, &JobControls::cancelClicked, this, &EditTab::cancelEdit);
    for (QLineEdit* e : {template_, subject_, targetNew_, targetTrue_})
        connect(e, &QLineEdit::returnPressed, this, &EditTab::runEdit);
}

QWidget* EditTab::buildAdvanced() {
    advanced_ = new QGroupBox(this);
    advanced_->setObjectName(QStringLiteral("advancedBox"));
    auto* outer = new QVBoxLayout(advanced_);
    form_ = new HparamForm(advanced_);  // rows: the chosen method's schema (applyDefaults sets the method)
    outer->addWidget(form_);
    connect(form_, &HparamForm::changed, this, &EditTab::updateInputs);
    auto* reset = new QPushButton(tr("Reset to the model's defaults"), advanced_);
    connect(reset, &QPushButton::clicked, this, [this] {
        chosenLayer_ = -1;
        applyDefaults();
    });
    outer->addWidget(reset, 0, Qt::AlignLeft);
    return advanced_;
}

QSpinBox* EditTab::vStepsSpin() const {
    return qobject_cast<QSpinBox*>(form_->editor(QStringLiteral("v_num_grad_steps")));
}

QCheckBox* EditTab::mom2Check() const {
    return qobject_cast<QCheckBox*>(form_->editor(QStringLiteral("mom2_adjustment")));
}

void EditTab::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    const int n = model_ ? model_->config().nLayer : 1;
    layer_->setRange(0, std::max(0, n - 1));
    lastLayer_->setRange(0, std::max(0, n - 1));
    chosenLayer_ = -1;
    mend_->setModel(model_);
    applyDefaults();
    syncMendEditor();
    updateMethodRows();
    updateInputs();
    if (model_ && targetTrueAuto_) answerTimer_->start();
}

kme::EditMethod EditTab::method() const {
    const QVariant data = method_->currentData();
    return data.isValid() ? kme::EditMethod(data.toInt()) : kme::defaultMethod().method;
}

void EditTab::setMethod(kme::EditMethod m) { method_->setCurrentIndex(method_->findData(int(m))); }

std::vector<int> EditTab::layers() const {
    const kme::LayerShape shape = kme::methodInfo(method()).layers;
    if (shape == kme::LayerShape::None) return {};
    if (shape != kme::LayerShape::Range) return {layer_->value()};
    std::vector<int> out;
    for (int l = layer_->value(); l <= lastLayer_->value(); ++l) out.push_back(l);
    return out;
}

void EditTab::setLayer(int layer) {
    chosenLayer_ = layer;
    if (kme::methodInfo(method()).layers == kme::LayerShape::Range) {
        // Keep the range's width, ending at the chosen layer (MEMIT puts z there).
        const int width = std::max(0, lastLayer_->value() - layer_->value());
        lastLayer_->setValue(layer);
        layer_->setValue(std::max(0, layer - width));
    } else {
        layer_->setValue(layer);
    }
    layerSource_->setText(tr("layer chosen in Locate"));
}

void EditTab::applyDefaults() {
    const kme::EditMethod m = method();
    QString source;
    defaults_ = kme::EditHparams{};
    if (model_) {
        try {
            const kme::EditDefaults d = kme::editDefaults(*model_, m);
            defaults_ = d.hparams;
            source = QString::fromStdString(d.layerSource);
        } catch (const kme::Error& e) {
            defaults_ = kme::defaultHparams(m, model_->config());
            source = tr("defaults file ignored: %1").arg(QString::fromStdString(e.what()));
        }
    }
    form_->setMethod(m);  // rebuilds the rows when the method changed
    form_->setDefaults(defaults_);
    form_->setHparams(defaults_);

    const std::vector<int>& l = defaults_.layers;
    if (chosenLayer_ >= 0) {
        setLayer(chosenLayer_);
        return;
    }
    if (!l.empty()) {
        layer_->setValue(kme::methodInfo(m).layers == kme::LayerShape::Range ? l.front() : l.back());
        lastLayer_->setValue(l.back());
        layerSource_->setText(tr("default from %1").arg(source));
    } else {
        layerSource_->setText(model_ ? tr("no default known for this model: click a heatmap column in Locate")
                                     : QString());
    }
}

void EditTab::updateMethodRows() {
    const kme::MethodInfo& m = kme::methodInfo(method());
    const bool range = m.layers == kme::LayerShape::Range;
    toLabel_->setVisible(range);
    lastLayer_->setVisible(range);
    layerLabel_->setText(range ? tr("&Layers:") : tr("&Layer:"));
    layerLabel_->setVisible(m.layers != kme::LayerShape::None);
    layer_->setVisible(m.layers != kme::LayerShape::None);
    layerSource_->setVisible(m.layers != kme::LayerShape::None);
    batch_->setVisible(m.batched);
    mend_->setVisible(m.method == kme::EditMethod::Mend);
}

void EditTab::syncMendEditor() {
    if (method() == kme::EditMethod::Mend)
        mend_->setChosenPath(QFile::decodeName(form_->hparams(defaults_).mendEditor.c_str()));
}

kme::EditHparams EditTab::hparamsFromControls(kme::EditHparams h) const {
    h = form_->hparams(std::move(h));
    h.layers = layers();
    return h;
}

void EditTab::setRequest(const QString& templ, const QString& subject, const QString& targetNew,
                         const QString& targetTrue) {
    template_->setText(templ);
    subject_->setText(subject);
    targetNew_->setText(targetNew);
    targetTrueAuto_ = targetTrue.isEmpty();
    targetTrue_->setText(targetTrue);
    if (targetTrueAuto_) answerTimer_->start();
}

void EditTab::prefill(const QString& templ, const QString& subject, int layer) {
    template_->setText(templ);
    subject_->setText(subject);
    targetTrueAuto_ = true;
    targetTrue_->clear();
    if (layer >= 0) setLayer(layer);
    answerTimer_->start();
}

std::vector<kme::EditRequest> EditTab::requests() const {
    std::vector<kme::EditRequest> out;
    auto add = [&out](const QString& t, const QString& s, const QString& n, const QString& tt) {
        kme::EditRequest r;
        r.prompt = t.toStdString();
        r.subject = s.toStdString();
        r.targetNew = n.trimmed().toStdString();
        r.targetTrue = tt.trimmed().toStdString();
        out.push_back(kme::normalizedRequest(r));
    };
    add(template_->text(), subject_->text(), targetNew_->text(), targetTrue_->text());
    if (kme::methodInfo(method()).batched) {
        for (const EditBatchBox::Row& row : batch_->filledRows())
            add(row.templ, row.subject, row.targetNew, row.targetTrue);
    }
    return out;
}

QString EditTab::inputError() const {
    if (!model_) return tr("Open a model first (File ▸ Open model folder…).");
    auto check = [this](const QString& t, const QString& s, const QString& n, const QString& where) -> QString {
        if (t.trimmed().isEmpty()) return tr("%1Type a template: the prompt with {} where the subject goes.").arg(where);
        if (t.count(QStringLiteral("{}")) != 1)
            return tr("%1The template needs exactly one {} (where the subject goes).").arg(where);
        if (s.trimmed().isEmpty()) return tr("%1Type the subject that fills {}.").arg(where);
        if (n.trimmed().isEmpty()) return tr("%1Type the new answer.").arg(where);
        return {};
    };
    QString e = check(template_->text(), subject_->text(), targetNew_->text(), QString());
    if (!e.isEmpty()) return e;
    const int nLayer = model_->config().nLayer;
    for (int l : layers())
        if (l < 0 || l >= nLayer) return tr("Layer %1 does not exist (0 to %2).").arg(l).arg(nLayer - 1);
    const kme::MethodInfo& info = kme::methodInfo(method());
    if (info.layers == kme::LayerShape::Range && lastLayer_->value() < layer_->value())
        return tr("The last layer must not come before the first.");
    if (!form_->isValid()) return tr("Advanced hyper-parameters: %1").arg(form_->errorText());
    if (info.method == kme::EditMethod::Mend) {
        const QString blocker = mend_->runBlocker();
        if (!blocker.isEmpty()) return blocker;
    }
    if (info.batched) {
        for (const EditBatchBox::Row& row : batch_->filledRows()) {
            e = check(row.templ, row.subject, row.targetNew, tr("Row %1: ").arg(row.row + 1));
            if (!e.isEmpty()) return e;
        }
    }
    return {};
}

void EditTab::updateInputs() {
    const QString error = inputError();
    const QPalette pal = palette();
    if (!error.isEmpty()) {
        message_->setText(errorHtml(pal, error));
    } else {
        // The edit in one line: the prompt with its subject marked, old → new.
        const QString t = template_->text();
        const int at = t.indexOf(QStringLiteral("{}"));
        QString line = t.left(at).toHtmlEscaped() +
                       QStringLiteral("<span style=\"background:%1; color:%2\">&nbsp;%3&nbsp;</span>")
                           .arg(pal.color(QPalette::Highlight).name(), pal.color(QPalette::HighlightedText).name(),
                                subject_->text().toHtmlEscaped()) +
                       t.mid(at + 2).toHtmlEscaped();
        const QString oldAnswer = targetTrue_->text().trimmed();
        line += QStringLiteral(" → <b>%1</b>").arg(targetNew_->text().trimmed().toHtmlEscaped());
        if (!oldAnswer.isEmpty()) line += tr(" (instead of %1)").arg(oldAnswer.toHtmlEscaped());
        message_->setText(line);
    }
    controls_->setRunEnabled(error.isEmpty() && !runner_->isBusy(), error);
    controls_->setBusy(editing_);
}

bool EditTab::readCurrentAnswer() {
    answerPending_ = false;
    if (!model_ || !targetTrueAuto_ || editing_) return false;
    const QString t = template_->text(), s = subject_->text();
    if (t.count(QStringLiteral("{}")) != 1 || s.trimmed().isEmpty()) return false;
    if (runner_->isBusy()) {
        answerPending_ = true;
        return false;
    }
    kme::EditRequest r;
    r.prompt = t.toStdString();
    r.subject = s.toStdString();
    const std::string prompt = r.filledPrompt();
    auto model = model_;
    auto answer = std::make_shared<std::string>();
    return runner_->start(
        tr("Reading the model's answer"),
        [model, prompt, answer](const kme::ProgressFn&) {
            kme::GenerateParams g;
            g.maxNewTokens = 4;
            g.topK = 1;
            *answer = answerOf(model->generate(model->encodePrompt(prompt), g).text);
        },
        [this, answer, t, s] {
            // Still the same request, and still the model's to fill in.
            if (!targetTrueAuto_ || template_->text() != t || subject_->text() != s || answer->empty()) return;
            targetTrue_->setText(QString::fromStdString(*answer).trimmed());  // the space is added when editing
        },
        [this](JobOutcome outcome, const QString&) { Q_EMIT currentAnswerRead(outcome == JobOutcome::Succeeded); });
}

QPushButton* EditTab::runButton() const { return controls_->runButton(); }

QPushButton* EditTab::cancelButton() const { return controls_->cancelButton(); }

bool EditTab::runEdit() {
    if (!inputError().isEmpty() || !model_ || runner_->isBusy() || editing_) return false;
    auto run = std::make_shared<EditRun>();
    run->method = method();
    run->requests = requests();
    kme::EditHparams hparams = hparamsFromControls(defaults_);
    // MEND: the editor the box shows (the engine alone would look in the model folder only).
    if (run->method == kme::EditMethod::Mend && hparams.mendEditor.empty())
        hparams.mendEditor = QFile::encodeName(mend_->editorPath()).toStdString();
    auto model = model_;
    auto live = session_->live();  // its stack: the enabled edits' keys for AlphaEdit (K_p)
    QString layersText;
    for (int l : hparams.layers) layersText += (layersText.isEmpty() ? QString() : QStringLiteral(",")) + QString::number(l);
    const QString title = tr("Editing with %1, layer %2").arg(method_->currentText(), layersText);
    const bool started = runner_->start(
        title,
        [run, model, live, hparams](const kme::ProgressFn& progress) {
            // The set-up and steps every front end shares (engine/edit/EditSetup.h, EditWorkflow.h):
            // the controls' values (started from the same defaults) over the defaults, the corpus, the checks.
            kme::EditOverrides overrides;
            overrides.hparams = hparams;
            kme::EditParams p = kme::setUpEdit(*model, run->method, overrides).params;
            p.requests = run->requests;
            const kme::EditStack* stack = live && live->model == model && live->stack ? live->stack.get() : nullptr;
            kme::EditOutcome outcome = kme::computeScoredEdit(*model, std::move(p), stack, progress);
            run->statsLabel = outcome.params.statsLabel;
            run->hashBefore = QString::fromStdString(outcome.stateHashBefore);
            for (const auto& s : outcome.before) run->before.push_back(requestProbs(s));
            run->result = std::make_shared<kme::EditResult>(std::move(outcome.result));
        },
        {},
        [this, run](JobOutcome outcome, const QString& message) {
            if (outcome != JobOutcome::Succeeded) {
                finishEdit(false, outcome == JobOutcome::Cancelled
                                      ? tr("Cancelled: the weights are unchanged.")
                                      : tr("The edit failed: %1").arg(message.toHtmlEscaped()));
                return;
            }
            controls_->setIndeterminate();
            const bool applying = session_->addEdit(
                run->result, run->requests, run->hashBefore,
                [run](kme::Model& m) {
                    for (const auto& s : kme::scoreRequests(m, run->requests)) run->after.push_back(requestProbs(s));
                },
                [this, run](int64_t id) {
                    if (id == 0) {
                        finishEdit(false, tr("The edit was computed but could not be applied and saved; the weights "
                                             "are unchanged."));
                        return;
                    }
                    lastEditId_ = id;
                    summary_->setHtml(editSummaryHtml(*run, session_->edit(id), session_->currentHash(), palette()));
                    finishEdit(true, {});
                });
            if (!applying) finishEdit(false, tr("The edit was computed but could not be applied and saved."));
        });
    if (!started) return false;
    editing_ = true;
    answerTimer_->stop();
    answerPending_ = false;
    controls_->setBusy(true);
    summary_->setHtml(tr("<p>Computing the edit… (%1)</p>").arg(title.toHtmlEscaped()));
    updateInputs();
    return true;
}

void EditTab::cancelEdit() {
    if (editing_) runner_->cancel();
}

void EditTab::finishEdit(bool ok, const QString& note) {
    editing_ = false;
    controls_->setBusy(false);
    if (!note.isEmpty()) summary_->setHtml(QStringLiteral("<p>%1</p>").arg(note));
    updateInputs();
    Q_EMIT editFinished(ok);
}

void EditTab::addBatchRow(const kme::EditRequest& request) { batch_->addRow(request); }

void EditTab::removeBatchRows() { batch_->removeSelectedRows(); }

bool EditTab::loadBatchFile(const QString& path) {
    return batch_->loadFile(path, [this, path] {
        // A file of requests is edited together: keep a batched method, else the table's first one.
        if (!kme::methodInfo(method()).batched)
            for (const kme::MethodInfo& m : kme::methodTable())
                if (m.batched) {
                    setMethod(m.method);
                    break;
                }
        Q_EMIT factFileLoaded(path);
    });
}

QTableWidget* EditTab::batchTable() const { return batch_->table(); }

QGroupBox* EditTab::batchBox() const { return batch_; }

}  // namespace kme::app
