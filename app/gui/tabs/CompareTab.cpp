#include "app/gui/tabs/CompareTab.h"

#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QShowEvent>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <QEvent>
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/WeightDelta.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "widgets/ProbabilityBars.h"
#include "widgets/TokenText.h"
#include "widgets/Colours.h"

namespace kme::app {

namespace {

using kme::widgets::mix;

using json = nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kContinuationTokens = 6;  // greedy tokens per prompt and point
constexpr int kTopShown = 5;           // tokens in the bar charts
constexpr int kTopStored = 20;         // tokens kept per side (the other chart's values come from them)
constexpr int kMaxSourceEdits = 3;      // edits whose prompts are shown
constexpr int kMaxRequestsPerEdit = 3;
constexpr int kMaxParaphrases = 3;
constexpr int kMaxNeighbours = 5;
const char* const kPreviewPrefix = "compare:";

// The edits whose prompts a comparison shows.
struct PromptSource {
    int64_t editId = 0;
    std::vector<kme::EditRequest> requests;
};

QString prob(double p) {
    if (std::isnan(p)) return QStringLiteral("—");
    if (p != 0 && p < 1e-4) return QString::number(p, 'e', 1);
    return QString::number(p, 'f', 4);
}

bool probChanged(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return false;
    return std::abs(a - b) > std::max(0.01, 0.1 * std::max(a, b));
}

// p(token) on a side: from its stored top tokens; below the last of them: 0.
double probOf(const CompareSide& side, const std::string& token) {
    for (const auto& [t, p] : side.top)
        if (t == token) return p;
    return 0.0;
}

// The most likely next token changed, or its probability did (shifts in the
// tail of the top five, at a few thousandths, are noise and not marked).
bool topChanged(const CompareSide& a, const CompareSide& b) {
    if (a.top.empty() || b.top.empty()) return false;
    if (a.top.front().first != b.top.front().first) return true;
    return probChanged(a.top.front().second, b.top.front().second);
}

CompareSide runSide(const kme::Model& model, const CompareRow& row) {
    CompareSide s;
    s.pNew = s.pTrue = kNaN;
    try {
        const std::vector<int> ids = model.encodePrompt(row.prompt);
        kme::GenerateParams g;
        g.maxNewTokens = kContinuationTokens;
        g.topK = 1;
        s.continuation = model.generate(ids, g).text;
        for (const auto& t : model.topNext(ids, kTopStored)) s.top.emplace_back(t.token, t.prob);
        if (!row.targetNew.empty()) s.pNew = kme::targetProbability(model, row.prompt, row.targetNew);
        if (!row.targetTrue.empty()) s.pTrue = kme::targetProbability(model, row.prompt, row.targetTrue);
    } catch (const kme::Error& e) {
        if (e.kind() == kme::ErrorKind::Cancelled) throw;
        s.error = e.what();  // e.g. a prompt longer than the context: this row only
    }
    return s;
}

// Rows for the sources and the user's prompts; fact files give paraphrases
// and neighbours for a request whose template and subject match a record.
std::vector<CompareRow> buildRows(const std::vector<PromptSource>& sources, const QStringList& userPrompts,
                                  const QStringList& factFiles) {
    std::vector<kme::Dataset> datasets;
    auto findFact = [&](const kme::EditRequest& r) -> const kme::FactRecord* {
        if (datasets.empty()) {
            for (const QString& f : factFiles) {
                try {
                    datasets.push_back(kme::loadDataset(QFile::encodeName(f).toStdString()));
                } catch (const kme::Error&) {
                    // A file that does not parse gives no paraphrases; the rows still run.
                }
            }
        }
        for (const auto& d : datasets)
            for (const auto& rec : d.records)
                if (rec.prompt == r.prompt && rec.subject == r.subject) return &rec;
        return nullptr;
    };
    std::vector<CompareRow> rows;
    std::set<std::string> seen;
    auto add = [&](CompareRow row) {
        if (row.prompt.empty() || !seen.insert(row.prompt).second) return;
        rows.push_back(std::move(row));
    };
    for (const auto& src : sources) {
        for (size_t i = 0; i < src.requests.size() && int(i) < kMaxRequestsPerEdit; ++i) {
            const kme::EditRequest& r = src.requests[i];
            add({r.filledPrompt(), "edit", r.targetNew, r.targetTrue, {}, {}, {}});
        }
        if (src.requests.empty()) continue;
        const kme::EditRequest& r = src.requests.front();
        if (const kme::FactRecord* fact = findFact(r)) {
            for (size_t i = 0; i < fact->paraphrasePrompts.size() && int(i) < kMaxParaphrases; ++i)
                add({fact->paraphrasePrompts[i], "paraphrase", r.targetNew, r.targetTrue, {}, {}, {}});
            for (size_t i = 0; i < fact->neighborhoodPrompts.size() && int(i) < kMaxNeighbours; ++i) {
                std::string note;
                if (i < fact->neighborhoodAnswers.size()) note = "its own answer: " + fact->neighborhoodAnswers[i];
                add({fact->neighborhoodPrompts[i], "neighbour", r.targetNew, r.targetTrue, note, {}, {}});
            }
        }
    }
    const kme::EditRequest focus = sources.empty() || sources.front().requests.empty() ? kme::EditRequest{}
                                                                                         : sources.front().requests.front();
    for (const QString& p : userPrompts) add({p.toStdString(), "yours", focus.targetNew, focus.targetTrue, {}, {}, {}});
    return rows;
}

json sideJson(const CompareSide& s, const CompareRow& row, const QString& label, int position,
              const std::vector<int64_t>& editIds, const QString& comparison) {
    json top = json::array();
    for (const auto& [token, p] : s.top) top.push_back({token, p});  // the stored top-20
    json j = {{"comparison", comparison.toStdString()},
              {"point", label.toStdString()},
              {"position", position},
              {"edit_ids", editIds},
              {"target_new", row.targetNew},
              {"target_true", row.targetTrue},
              {"p_new", std::isnan(s.pNew) ? json(nullptr) : json(s.pNew)},
              {"p_true", std::isnan(s.pTrue) ? json(nullptr) : json(s.pTrue)},
              {"top", top}};
    if (!row.note.empty()) j["note"] = row.note;
    if (!s.error.empty()) j["error"] = s.error;
    return j;
}

CompareSide sideFromJson(const json& j, const std::string& text) {
    CompareSide s;
    s.continuation = text;
    s.pNew = j.value("p_new", json(nullptr)).is_number() ? j["p_new"].get<double>() : kNaN;
    s.pTrue = j.value("p_true", json(nullptr)).is_number() ? j["p_true"].get<double>() : kNaN;
    if (j.contains("top") && j["top"].is_array())
        for (const auto& t : j["top"])
            if (t.is_array() && t.size() == 2 && t[0].is_string() && t[1].is_number())
                s.top.emplace_back(t[0].get<std::string>(), t[1].get<double>());
    s.error = j.value("error", std::string());
    return s;
}

}  // namespace

CompareTab::CompareTab(JobRunner* runner, SessionController* session, QWidget* parent)
    : QWidget(parent), runner_(runner), session_(session) {
    auto* layout = new QVBoxLayout(this);

    auto* pointsRow = new QHBoxLayout;
    before_ = new QComboBox(this);
    before_->setObjectName(QStringLiteral("beforeCombo"));
    before_->setToolTip(tr("The first point of the edit history: its weights are the originals plus the enabled "
                           "edits up to it"));
    after_ = new QComboBox(this);
    after_->setObjectName(QStringLiteral("afterCombo"));
    after_->setToolTip(before_->toolTip());
    for (QComboBox* c : {before_, after_}) c->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    compare_ = new QPushButton(tr("&Compare"), this);
    compare_->setObjectName(QStringLiteral("compareButton"));
    compare_->setToolTip(tr("Run every prompt on both points (Ctrl+R)"));
    auto* beforeLabel = new QLabel(tr("&Before:"), this);
    beforeLabel->setBuddy(before_);
    auto* afterLabel = new QLabel(tr("&After:"), this);
    afterLabel->setBuddy(after_);
    pointsRow->addWidget(beforeLabel);
    pointsRow->addWidget(before_);
    pointsRow->addSpacing(12);
    pointsRow->addWidget(afterLabel);
    pointsRow->addWidget(after_);
    pointsRow->addSpacing(12);
    pointsRow->addWidget(compare_);
    pointsRow->addStretch(1);
    layout->addLayout(pointsRow);

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

    targets_ = new QLabel(this);
    targets_->setObjectName(QStringLiteral("compareTargets"));
    targets_->setWordWrap(true);
    targets_->setTextFormat(Qt::RichText);
    layout->addWidget(targets_);

    table_ = new QTableWidget(0, kColumnCount, this);
    table_->setObjectName(QStringLiteral("compareTable"));
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setWordWrap(true);
    table_->setAlternatingRowColors(false);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    table_->horizontalHeader()->setStretchLastSection(false);
    table_->horizontalHeader()->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->viewport()->installEventFilter(this);

    auto* detail = new QWidget(this);
    auto* detailLayout = new QVBoxLayout(detail);
    detailLayout->setContentsMargins(0, 0, 0, 0);
    detailTitle_ = new QLabel(detail);
    detailTitle_->setObjectName(QStringLiteral("compareDetailTitle"));
    detailTitle_->setTextFormat(Qt::PlainText);
    detailTitle_->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
    detailLayout->addWidget(detailTitle_);
    auto* charts = new QHBoxLayout;
    beforeBars_ = new kme::widgets::ProbabilityBars(detail);
    beforeBars_->setObjectName(QStringLiteral("compareBeforeBars"));
    afterBars_ = new kme::widgets::ProbabilityBars(detail);
    afterBars_->setObjectName(QStringLiteral("compareAfterBars"));
    for (auto* bars : {beforeBars_, afterBars_}) {
        bars->setMinimumHeight(200);
        bars->setPlaceholderText(tr("Select a row to see its top-5 next tokens."));
        charts->addWidget(bars);
    }
    detailLayout->addLayout(charts, 1);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->setObjectName(QStringLiteral("compareSplitter"));
    split->addWidget(table_);
    split->addWidget(detail);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    split->setChildrenCollapsible(false);
    layout->addWidget(split, 1);
    connect(table_, &QTableWidget::currentCellChanged, this, [this](int row) { showDetail(row); });

    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("compareStatus"));
    status_->setWordWrap(true);
    layout->addWidget(status_);

    autoTimer_ = new QTimer(this);
    autoTimer_->setSingleShot(true);
    autoTimer_->setInterval(300);
    connect(autoTimer_, &QTimer::timeout, this, &CompareTab::maybeAutoCompare);

    connect(compare_, &QPushButton::clicked, this, &CompareTab::compare);
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
    for (QComboBox* c : {before_, after_})
        connect(c, &QComboBox::activated, this, [this] {
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
    const int beforePos = before_->count() ? beforePosition() : 0;
    const int afterPos = after_->count() ? afterPosition() : -1;
    for (QComboBox* c : {before_, after_}) {
        c->blockSignals(true);
        c->clear();
        for (const WeightState& s : session_->historyPoints()) c->addItem(s.label, s.position);
        c->blockSignals(false);
    }
    setPoints(beforePos, afterPos);
}

void CompareTab::setPoints(int beforePosition, int afterPosition) {
    auto select = [](QComboBox* c, int position, int fallback) {
        int i = c->findData(position);
        if (i < 0) i = c->findData(fallback);
        c->setCurrentIndex(std::max(0, i));
    };
    select(before_, beforePosition, 0);
    select(after_, afterPosition, -1);
    updateEnabled();
}

int CompareTab::beforePosition() const { return before_->currentData().isValid() ? before_->currentData().toInt() : 0; }
int CompareTab::afterPosition() const { return after_->currentData().isValid() ? after_->currentData().toInt() : -1; }

std::vector<int64_t> CompareTab::pointEdits(int position) const { return session_->stateAt(position).editIds; }

bool CompareTab::isStale() const {
    return !shown_ || pointEdits(beforePosition()) != shownBefore_ || pointEdits(afterPosition()) != shownAfter_ ||
           userPrompts_ != shownUserPrompts_;
}

void CompareTab::updateEnabled() {
    compare_->setEnabled(model_ && session_->live() && !runner_->isBusy() && !computing_);
    clearPrompts_->setEnabled(!userPrompts_.isEmpty());
    if (shown_ && isStale() && !computing_)
        status_->setText(tr("The edit history or your prompts changed since this table was computed: press "
                            "Compare to bring it up to date."));
}

void CompareTab::fitPromptColumn() {
    constexpr int kMinPromptWidth = 220;
    int others = 0;
    for (int c = 0; c < kColumnCount; ++c)
        if (c != kPromptCol) others += table_->columnWidth(c);
    const int width = std::max(kMinPromptWidth, table_->viewport()->width() - others);
    if (table_->columnWidth(kPromptCol) != width) {
        table_->setColumnWidth(kPromptCol, width);
        table_->resizeRowsToContents();
    }
}

bool CompareTab::eventFilter(QObject* watched, QEvent* event) {
    if (watched == table_->viewport() && event->type() == QEvent::Resize) fitPromptColumn();
    return QWidget::eventFilter(watched, event);
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
    const int beforePos = beforePosition(), afterPos = afterPosition();
    const WeightState a = session_->stateAt(beforePos), b = session_->stateAt(afterPos), now = session_->liveState();

    // The prompts come from the edits in which the two points differ (most
    // recent first), else from the last edit.
    std::set<int64_t> inA(a.editIds.begin(), a.editIds.end()), inB(b.editIds.begin(), b.editIds.end());
    std::vector<PromptSource> sources;
    const auto& edits = session_->edits();
    for (auto it = edits.rbegin(); it != edits.rend() && int(sources.size()) < kMaxSourceEdits; ++it)
        if (inA.count(it->id) != inB.count(it->id)) sources.push_back({it->id, SessionController::editRequests(*it)});
    if (sources.empty() && !edits.empty()) sources.push_back({edits.back().id, SessionController::editRequests(edits.back())});
    if (sources.empty() && userPrompts_.isEmpty()) {
        status_->setText(tr("Nothing to compare yet: run an edit in the Edit tab, or add a prompt of your own."));
        return false;
    }
    const int64_t focusId = sources.empty() ? 0 : sources.front().editId;

    // Fact files: the ones loaded in the Edit tab, the model's project, the demo project.
    QStringList files = factFiles_;
    const QString modelFolder = session_->facts().folder;
    for (const QString& f : {QDir(modelFolder).filePath(QStringLiteral("../facts.json")),
                             QDir(QString::fromStdString(kme::demoProjectFolder())).filePath(QStringLiteral("facts.json"))}) {
        const QString clean = QDir::cleanPath(f);
        if (QFileInfo::exists(clean) && !files.contains(clean)) files << clean;
    }

    auto out = std::make_shared<std::vector<CompareRow>>();
    const QStringList prompts = userPrompts_;
    const bool sameStates = a.editIds == b.editIds;
    const bool started = runner_->start(
        tr("Comparing %1 with %2").arg(a.label, b.label),
        [live, a, b, now, sources, prompts, files, out, sameStates](const kme::ProgressFn& progress) {
            *out = buildRows(sources, prompts, files);
            // End on the live state when one side is it: no extra rebuild.
            const bool beforeIsLive = a.editIds == now.editIds;
            std::vector<std::pair<const WeightState*, bool>> order;  // (state, is the "after" side)
            if (sameStates) order = {{&a, false}};
            else if (beforeIsLive) order = {{&b, true}, {&a, false}};
            else order = {{&a, false}, {&b, true}};
            const WeightState* current = &now;
            const double total = double(out->size() * order.size());
            double done = 0;
            try {
                for (const auto& [state, isAfter] : order) {
                    if (state->editIds != current->editIds) {
                        SessionController::applyState(*live->stack, *state);
                        current = state;
                    }
                    for (CompareRow& row : *out) {
                        if (progress && !progress(done, total)) throw kme::Cancelled();
                        (isAfter ? row.after : row.before) = runSide(*live->model, row);
                        ++done;
                    }
                }
            } catch (...) {
                if (current->editIds != now.editIds) SessionController::applyState(*live->stack, now);
                throw;
            }
            if (current->editIds != now.editIds) SessionController::applyState(*live->stack, now);
            if (sameStates)
                for (CompareRow& row : *out) row.after = row.before;
        },
        {},
        [this, out, a, b, beforePos, afterPos, prompts, focusId](JobOutcome outcome, const QString& message) {
            computing_ = false;
            if (outcome != JobOutcome::Succeeded) {
                status_->setText(outcome == JobOutcome::Cancelled ? tr("Comparison cancelled.")
                                                                  : tr("The comparison failed: %1").arg(message));
                updateEnabled();
                Q_EMIT comparisonFinished(false);
                return;
            }
            rows_ = std::move(*out);
            shown_ = true;
            shownBefore_ = a.editIds;
            shownAfter_ = b.editIds;
            shownUserPrompts_ = prompts;
            const kme::EditRecord* focus = session_->edit(focusId);
            QString focusText;
            if (focus)
                focusText = tr("Prompts of #%1 “%2”: ")
                                .arg(focus->position)
                                .arg(QString::fromStdString(focus->name).toHtmlEscaped());
            fillTable(a.label, b.label);
            targets_->setText(focusText + targets_->text());
            savePreviews(a.label, b.label, beforePos, afterPos);
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
    table_->clearContents();
    table_->setRowCount(0);
    const QString b = beforeLabel.isEmpty() ? tr("before") : beforeLabel;
    const QString a = afterLabel.isEmpty() ? tr("after") : afterLabel;
    auto elide = [](const QString& s) { return s.size() > 28 ? s.left(27) + QChar(0x2026) : s; };
    beforeLabel_ = b;
    afterLabel_ = a;
    table_->setHorizontalHeaderLabels({tr("Prompt"), tr("Continuation\n%1").arg(elide(b)),
                                       tr("Continuation\n%1").arg(elide(a)), tr("p(new)\n%1").arg(elide(b)),
                                       tr("p(new)\n%1").arg(elide(a)), tr("p(true)\n%1").arg(elide(b)),
                                       tr("p(true)\n%1").arg(elide(a)), tr("Next token\n%1").arg(elide(b)),
                                       tr("Next token\n%1").arg(elide(a))});
    for (int c = 0; c < kColumnCount; ++c) table_->horizontalHeaderItem(c)->setToolTip(
        c == kPromptCol ? tr("The prompt; the row header says where it comes from")
                        : (c % 2 == 1 ? tr("Before: %1").arg(b) : tr("After: %1").arg(a)));
    if (rows_.empty()) {
        showDetail(-1);
        targets_->setText(tr("Run an edit in the Edit tab, then press Compare: each prompt is answered at both "
                             "points of the edit history. Highlighted cells changed."));
        return;
    }
    const QPalette pal = palette();
    const QColor changed = mix(pal.color(QPalette::Base), pal.color(QPalette::Highlight), 0.3);
    const CompareRow& first = rows_.front();
    targets_->setText(tr("p(new) = p(<b>%1</b>), p(true) = p(<b>%2</b>). Highlighted: what changed between the two "
                         "points.")
                          .arg(kme::widgets::visibleToken(QString::fromStdString(first.targetNew)).toHtmlEscaped(),
                               first.targetTrue.empty()
                                   ? tr("unknown")
                                   : kme::widgets::visibleToken(QString::fromStdString(first.targetTrue)).toHtmlEscaped()));
    table_->setRowCount(int(rows_.size()));
    QStringList kinds;
    for (int r = 0; r < int(rows_.size()); ++r) {
        const CompareRow& row = rows_[size_t(r)];
        const QString kind = row.kind == "edit" ? tr("edit") : row.kind == "paraphrase" ? tr("paraphrase")
                             : row.kind == "neighbour"                                  ? tr("neighbour")
                                                                                        : tr("yours");
        kinds << kind;
        auto* prompt = new QTableWidgetItem(QString::fromStdString(row.prompt));
        QString tip = tr("%1 prompt\np(new) = p(%2), p(true) = p(%3)")
                          .arg(kind, QString::fromStdString(row.targetNew), QString::fromStdString(row.targetTrue));
        if (!row.note.empty()) tip += QLatin1Char('\n') + QString::fromStdString(row.note);
        prompt->setToolTip(tip);
        table_->setItem(r, kPromptCol, prompt);

        auto text = [&](int col, const QString& s, bool isChanged, const QString& tooltip, bool numeric) {
            auto* item = new QTableWidgetItem(s);
            item->setToolTip(tooltip.isEmpty() ? s : tooltip);
            if (numeric) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            item->setData(kChangedRole, isChanged);
            if (isChanged) item->setBackground(changed);
            table_->setItem(r, col, item);
        };
        auto cont = [](const CompareSide& s) {
            return s.error.empty() ? QString::fromStdString(s.continuation)
                                   : QStringLiteral("⚠ ") + QString::fromStdString(s.error);
        };
        const bool contChanged = row.before.continuation != row.after.continuation;
        text(kContBeforeCol, cont(row.before), false, {}, false);
        text(kContAfterCol, cont(row.after), contChanged, {}, false);
        text(kNewBeforeCol, prob(row.before.pNew), false, QString::number(row.before.pNew, 'g', 6), true);
        text(kNewAfterCol, prob(row.after.pNew), probChanged(row.before.pNew, row.after.pNew),
             QString::number(row.after.pNew, 'g', 6), true);
        text(kTrueBeforeCol, prob(row.before.pTrue), false, QString::number(row.before.pTrue, 'g', 6), true);
        text(kTrueAfterCol, prob(row.after.pTrue), probChanged(row.before.pTrue, row.after.pTrue),
             QString::number(row.after.pTrue, 'g', 6), true);

        // The most likely next token; its top five are the charts under the table.
        const bool nextChanged = topChanged(row.before, row.after);
        for (const bool isAfter : {false, true}) {
            const CompareSide& side = isAfter ? row.after : row.before;
            QStringList tokens;
            for (size_t i = 0; i < side.top.size() && int(i) < kTopShown; ++i)
                tokens << QString::fromStdString(side.top[i].first);
            const QString shown =
                side.top.empty() ? QStringLiteral("—")
                                 : QStringLiteral("%1  %2").arg(kme::widgets::visibleTokenElided(tokens.front(), 14),
                                                                prob(side.top.front().second));
            text(isAfter ? kTopAfterCol : kTopBeforeCol, shown, isAfter && nextChanged,
                 tr("Top-5: %1").arg(tokens.join(QStringLiteral(" · "))), false);
            table_->item(r, isAfter ? kTopAfterCol : kTopBeforeCol)->setData(Qt::UserRole, tokens);
        }
    }
    table_->setVerticalHeaderLabels(kinds);
    for (int c : {kContBeforeCol, kContAfterCol}) table_->setColumnWidth(c, 130);
    for (int c : {kNewBeforeCol, kNewAfterCol, kTrueBeforeCol, kTrueAfterCol}) table_->setColumnWidth(c, 74);
    for (int c : {kTopBeforeCol, kTopAfterCol}) table_->setColumnWidth(c, 104);
    fitPromptColumn();
    table_->resizeRowsToContents();
    table_->setCurrentCell(0, kPromptCol);
    showDetail(0);
}

void CompareTab::showDetail(int row) {
    if (row < 0 || row >= int(rows_.size())) {
        detailTitle_->setText(rows_.empty() ? QString() : tr("Select a row to see its top-5 next tokens."));
        beforeBars_->clear();
        afterBars_->clear();
        return;
    }
    const CompareRow& r = rows_[size_t(row)];
    detailTitle_->setText(tr("Top-5 next tokens after “%1”").arg(QString::fromStdString(r.prompt)));
    auto fill = [this](kme::widgets::ProbabilityBars* bars, const CompareSide& side, const CompareSide& other,
                       const QString& label, const QString& otherLabel, bool withOther) {
        QStringList tokens;
        QVector<double> probs, others;
        for (size_t i = 0; i < side.top.size() && int(i) < kTopShown; ++i) {
            tokens << QString::fromStdString(side.top[i].first);
            probs << side.top[i].second;
            others << probOf(other, side.top[i].first);
        }
        bars->setTitle(label);
        bars->setSeriesNames(label, otherLabel);
        bars->setPlaceholderText(side.error.empty() ? tr("No data.") : QString::fromStdString(side.error));
        bars->setData(tokens, probs, withOther ? others : QVector<double>{});
    };
    fill(beforeBars_, r.before, r.after, beforeLabel_, afterLabel_, false);
    // The "after" chart also shows the same tokens' "before" probabilities.
    fill(afterBars_, r.after, r.before, afterLabel_, beforeLabel_, true);
}

bool CompareTab::isChanged(int row, int column) const {
    const QTableWidgetItem* item = table_->item(row, column);
    return item && item->data(kChangedRole).toBool();
}

QString CompareTab::cellText(int row, int column) const {
    const QTableWidgetItem* item = table_->item(row, column);
    if (!item) return {};
    if (column == kTopBeforeCol || column == kTopAfterCol) return item->data(Qt::UserRole).toStringList().join(QLatin1Char('|'));
    return item->text();
}

void CompareTab::savePreviews(const QString& beforeLabel, const QString& afterLabel, int beforePos, int afterPos) {
    if (rows_.empty()) return;
    const QString id =
        QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs) + QStringLiteral("#%1").arg(++comparisonCounter_);
    // The edit the comparison is about: the most recent one the two points differ in.
    std::optional<int64_t> editId;
    const std::vector<int64_t> ea = pointEdits(beforePos), eb = pointEdits(afterPos);
    for (auto it = session_->edits().rbegin(); it != session_->edits().rend(); ++it) {
        const bool inA = std::find(ea.begin(), ea.end(), it->id) != ea.end();
        const bool inB = std::find(eb.begin(), eb.end(), it->id) != eb.end();
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
    for (const CompareRow& row : rows_) {
        if (!haveSession) break;
        kme::PreviewRecord p;
        p.editId = editId;
        p.prompt = row.prompt;
        p.kind = kPreviewPrefix + row.kind;
        p.beforeText = row.before.continuation;
        p.afterText = row.after.continuation;
        p.beforeProbsJson = sideJson(row.before, row, beforeLabel, beforePos, ea, id).dump();
        p.afterProbsJson = sideJson(row.after, row, afterLabel, afterPos, eb, id).dump();
        if (!session_->addPreview(p, &error)) break;
        ++saved;
    }
    if (saved == int(rows_.size()))
        status_->setText(tr("%1 compared with %2: %3 prompts, saved in session “%4”.")
                             .arg(beforeLabel, afterLabel)
                             .arg(rows_.size())
                             .arg(session_->sessionName()));
    else
        status_->setText(tr("%1 compared with %2; the comparison could not be saved: %3")
                             .arg(beforeLabel, afterLabel, error));
}

void CompareTab::showSaved() {
    if (saving_) return;
    rows_.clear();
    shown_ = false;
    shownBefore_.clear();
    shownAfter_.clear();
    shownUserPrompts_.clear();
    userPrompts_.clear();
    refreshPoints();
    kme::SessionStore* store = session_->store();
    std::vector<kme::PreviewRecord> previews;
    if (store) {
        try {
            previews = store->listPreviews();
        } catch (const kme::Error&) {
        }
    }
    // The last comparison saved: previews sharing its "comparison" id.
    std::string last;
    for (auto it = previews.rbegin(); it != previews.rend() && last.empty(); ++it)
        if (it->kind.rfind(kPreviewPrefix, 0) == 0) {
            try {
                last = kme::parseJson(it->afterProbsJson, "a comparison record").value("comparison", std::string());
            } catch (const std::exception&) {
            }
        }
    QString beforeLabel, afterLabel, created;
    int beforePos = 0, afterPos = -1;
    for (const auto& p : previews) {
        if (last.empty() || p.kind.rfind(kPreviewPrefix, 0) != 0) continue;
        json jb, ja;
        try {
            jb = kme::parseJson(p.beforeProbsJson, "a comparison record");
            ja = kme::parseJson(p.afterProbsJson, "a comparison record");
        } catch (const std::exception&) {
            continue;
        }
        if (ja.value("comparison", std::string()) != last) continue;
        CompareRow row;
        row.prompt = p.prompt;
        row.kind = p.kind.substr(std::string(kPreviewPrefix).size());
        row.targetNew = ja.value("target_new", std::string());
        row.targetTrue = ja.value("target_true", std::string());
        row.note = ja.value("note", std::string());
        row.before = sideFromJson(jb, p.beforeText);
        row.after = sideFromJson(ja, p.afterText);
        if (row.kind == "yours") userPrompts_ << QString::fromStdString(row.prompt);
        beforeLabel = QString::fromStdString(jb.value("point", std::string()));
        afterLabel = QString::fromStdString(ja.value("point", std::string()));
        beforePos = jb.value("position", 0);
        afterPos = ja.value("position", -1);
        try {
            shownBefore_ = jb.value("edit_ids", std::vector<int64_t>{});
            shownAfter_ = ja.value("edit_ids", std::vector<int64_t>{});
        } catch (const std::exception&) {
        }
        created = QString::fromStdString(p.created);
        rows_.push_back(std::move(row));
    }
    shownUserPrompts_ = userPrompts_;
    shown_ = !rows_.empty();
    if (shown_) setPoints(beforePos, afterPos);
    fillTable(beforeLabel, afterLabel);
    status_->setText(shown_ ? tr("Saved comparison of %1 with %2 (%3).").arg(beforeLabel, afterLabel, created)
                            : QString());
    updateEnabled();
}

}  // namespace kme::app
