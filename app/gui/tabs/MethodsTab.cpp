#include "app/gui/tabs/MethodsTab.h"

#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QTextDocument>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include "app/gui/ModelFacts.h"
#include "engine/core/Error.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/HparamSchema.h"
#include "engine/model/Config.h"
#include "engine/model/Model.h"

namespace kme::app {

namespace {

const char* const kMethodProperty = "kmeMethod";
// How many changed hyper-parameters a card lists before "…".
constexpr int kMaxChangedKeys = 4;

QString jsonValueText(const nlohmann::json& v) {
    if (v.is_number_float()) return QString::number(v.get<double>(), 'g', 6);
    if (v.is_string()) return QString::fromStdString(v.get<std::string>());
    return QString::fromStdString(v.dump());
}

// One method's defaults for a model, in words (rich text).
struct DefaultsText {
    std::vector<int> layers;  // empty: none known
    QString html;
};

DefaultsText defaultsFor(const kme::Model* model, const kme::MethodInfo& info) {
    DefaultsText out;
    if (!model) {
        out.html = MethodsTab::tr("Load a model to see its defaults.");
        return out;
    }
    kme::EditDefaults d;
    QString fileError;
    try {
        d = kme::editDefaults(*model, info.method);
    } catch (const kme::Error& e) {
        d.hparams = kme::defaultHparams(info.method, model->config());
        fileError = QString::fromStdString(e.what());
    }
    out.layers = d.hparams.layers;
    QStringList lines;
    if (info.layers != kme::LayerShape::None) {
        if (out.layers.empty())
            lines << MethodsTab::tr("no default layer for this model: choose one in Locate");
        else
            lines << QStringLiteral("<b>%1</b>").arg(layersText(out.layers).toHtmlEscaped()) +
                         (d.layerSource.empty()
                              ? QString()
                              : MethodsTab::tr(" (from %1)").arg(QString::fromStdString(d.layerSource).toHtmlEscaped()));
    }
    // The keys where this model's defaults differ from the method's general ones.
    const kme::EditHparams general = kme::defaultHparams(info.method, kme::ModelConfig{});
    QStringList changed;
    QString steps;
    for (const kme::HparamSpec* s : kme::hparamSchema(info.method)) {
        if (!s->recorded || s->key == "layers" || s->type == kme::HparamType::Templates) continue;
        const nlohmann::json mine = s->get(d.hparams);
        const nlohmann::json theirs = s->get(general);
        const QString key = QString::fromStdString(s->key).toHtmlEscaped();
        if (s->key == info.stepsKey) steps = QStringLiteral("%1 %2").arg(key, jsonValueText(mine).toHtmlEscaped());
        if (mine == theirs) continue;
        changed << MethodsTab::tr("%1 %2 (general %3)")
                       .arg(key, jsonValueText(mine).toHtmlEscaped(), jsonValueText(theirs).toHtmlEscaped());
    }
    if (!steps.isEmpty()) lines << MethodsTab::tr("steps: %1").arg(steps);
    if (changed.size() > kMaxChangedKeys) {
        const int more = int(changed.size()) - kMaxChangedKeys;
        changed = changed.mid(0, kMaxChangedKeys);
        changed << MethodsTab::tr("%n more", nullptr, more);
    }
    if (!changed.isEmpty()) lines << MethodsTab::tr("for this model: %1").arg(changed.join(QStringLiteral("; ")));
    if (!fileError.isEmpty())
        lines << MethodsTab::tr("defaults file ignored: %1").arg(fileError.toHtmlEscaped());
    if (lines.isEmpty()) lines << MethodsTab::tr("the method's general values (nothing specific to this model)");
    out.html = lines.join(QStringLiteral("<br>"));
    return out;
}

QString paperHtml(const kme::PaperRef& p) {
    const QString title = QString::fromUtf8(p.title).toHtmlEscaped();
    QString html = QString::fromUtf8(p.authors).toHtmlEscaped() + QStringLiteral(": ");
    html += *p.url ? QStringLiteral("<a href=\"%1\">%2</a>").arg(QString::fromUtf8(p.url).toHtmlEscaped(), title)
                   : QStringLiteral("<i>%1</i>").arg(title);
    html += QStringLiteral(" (%1 %2)").arg(QString::fromUtf8(p.venue).toHtmlEscaped()).arg(p.year);
    if (*p.code) html += MethodsTab::tr("; code: %1").arg(QString::fromUtf8(p.code).toHtmlEscaped());
    return html;
}

QLabel* richLabel(const QString& html, QWidget* parent, const char* name) {
    auto* label = new QLabel(html, parent);
    label->setObjectName(QString::fromLatin1(name));
    label->setWordWrap(true);
    label->setTextFormat(Qt::RichText);
    label->setTextInteractionFlags(Qt::TextBrowserInteraction);
    label->setOpenExternalLinks(true);
    label->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    return label;
}

QString plainText(const QString& html) {
    QTextDocument doc;
    doc.setHtml(html);
    return doc.toPlainText();
}

}  // namespace

QString layersText(const std::vector<int>& layers) {
    if (layers.empty()) return {};
    if (layers.size() == 1) return MethodsTab::tr("layer %1").arg(layers.front());
    bool consecutive = true;
    for (size_t i = 1; i < layers.size(); ++i) consecutive = consecutive && layers[i] == layers[i - 1] + 1;
    if (consecutive) return MethodsTab::tr("layers %1-%2").arg(layers.front()).arg(layers.back());
    QStringList parts;
    for (int l : layers) parts << QString::number(l);
    return MethodsTab::tr("layers %1").arg(parts.join(QStringLiteral(", ")));
}

QString methodChangesText(const kme::MethodInfo& info, const std::vector<int>& layers) {
    QString where;
    if (info.layers != kme::LayerShape::None)
        where = !layers.empty() ? layersText(layers)
                : info.layers == kme::LayerShape::Range ? MethodsTab::tr("a range of layers")
                                                        : MethodsTab::tr("one layer");
    switch (info.payload) {
        case kme::PayloadKind::Weights:
            return where.isEmpty() ? MethodsTab::tr("the model's weights (a weight delta)")
                                   : MethodsTab::tr("the weights of %1 (a weight delta)").arg(where);
        case kme::PayloadKind::Adapter:
            return where.isEmpty() ? MethodsTab::tr("an adapter in the forward pass; the weights stay as they are")
                                   : MethodsTab::tr("an adapter beside %1; the weights stay as they are").arg(where);
        case kme::PayloadKind::Context:
            return MethodsTab::tr("the context: tokens placed before every prompt; no weights change");
    }
    return {};
}

MethodsTab::MethodsTab(QWidget* parent) : QWidget(parent) {
    buildUi();
    refreshDefaults();
}

void MethodsTab::buildUi() {
    auto* outer = new QVBoxLayout(this);
    header_ = new QLabel(this);
    header_->setObjectName(QStringLiteral("methodsHeader"));
    header_->setWordWrap(true);
    outer->addWidget(header_);

    auto* scroll = new QScrollArea(this);
    scroll->setObjectName(QStringLiteral("methodsScroll"));
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* inner = new QWidget(scroll);
    auto* row = new QHBoxLayout(inner);
    row->setContentsMargins(0, 0, 0, 0);
    // Every row of the table, in its family's column, in table order.
    const auto& table = kme::methodTable();
    cards_.reserve(table.size());
    for (kme::MethodFamily family : kme::methodFamilies()) {
        auto* column = new QFrame(inner);
        column->setObjectName(QStringLiteral("family_%1").arg(QString::fromUtf8(kme::familyName(family))));
        auto* col = new QVBoxLayout(column);
        col->setContentsMargins(4, 0, 4, 0);
        auto* title = new QLabel(QStringLiteral("<b>%1</b>").arg(QString::fromUtf8(kme::familyDisplayName(family))), column);
        title->setObjectName(QStringLiteral("familyTitle"));
        QFont big = title->font();
        big.setPointSizeF(big.pointSizeF() * 1.2);
        title->setFont(big);
        auto* summary = new QLabel(QString::fromUtf8(kme::familySummary(family)), column);
        summary->setWordWrap(true);
        summary->setEnabled(false);  // the palette's muted text
        col->addWidget(title);
        col->addWidget(summary);
        const auto rows = kme::methodsOf(family);
        if (rows.empty()) {
            auto* none = new QLabel(tr("(no method of this family yet)"), column);
            none->setEnabled(false);
            col->addWidget(none);
        }
        for (const kme::MethodInfo* info : rows) {
            cards_.push_back({});
            col->addWidget(buildCard(*info, cards_.back()));
        }
        col->addStretch(1);
        row->addWidget(column, 1);
        columns_.emplace_back(family, column);
    }
    scroll->setWidget(inner);
    outer->addWidget(scroll, 1);
}

QFrame* MethodsTab::buildCard(const kme::MethodInfo& info, Card& card) {
    auto* frame = new QFrame(this);
    frame->setObjectName(QStringLiteral("method_%1").arg(QString::fromUtf8(info.name)));
    frame->setProperty(kMethodProperty, int(info.method));
    frame->setFrameShape(QFrame::StyledPanel);
    frame->setFrameShadow(QFrame::Raised);
    frame->setAutoFillBackground(true);
    frame->setBackgroundRole(QPalette::Base);
    auto* v = new QVBoxLayout(frame);
    v->setSpacing(4);
    QStringList traits;
    traits << QString::fromUtf8(kme::payloadName(info.payload));
    traits << (info.batched ? tr("batched") : tr("one edit at a time"));
    if (info.needsKeyStatistics) traits << tr("key statistics");
    auto* title = richLabel(QStringLiteral("<b>%1</b> &nbsp;<small>%2</small>")
                                .arg(QString::fromUtf8(info.displayName).toHtmlEscaped(),
                                     traits.join(QStringLiteral(" · ")).toHtmlEscaped()),
                            frame, "methodTitle");
    QFont bigger = title->font();
    bigger.setPointSizeF(bigger.pointSizeF() * 1.1);
    title->setFont(bigger);
    v->addWidget(title);
    v->addWidget(richLabel(QString::fromUtf8(info.summary).toHtmlEscaped(), frame, "methodSummary"));
    card.changes = richLabel({}, frame, "methodChanges");
    card.defaults = richLabel({}, frame, "methodDefaults");
    v->addWidget(card.changes);
    v->addWidget(card.defaults);
    auto* paper = richLabel(tr("<small>Paper: %1</small>").arg(paperHtml(info.paper)), frame, "methodPaper");
    paper->setToolTip(QString::fromStdString(kme::paperText(info.paper)));
    v->addWidget(paper);
    card.open = new QPushButton(tr("Open in Edit"), frame);
    card.open->setObjectName(QStringLiteral("openInEdit_%1").arg(QString::fromUtf8(info.name)));
    card.open->setToolTip(tr("Select %1 in the Edit tab, with its defaults for the loaded model")
                              .arg(QString::fromUtf8(info.displayName)));
    const kme::EditMethod method = info.method;
    connect(card.open, &QPushButton::clicked, this, [this, method] { chooseMethod(method); });
    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    buttons->addWidget(card.open);
    v->addLayout(buttons);
    card.info = &info;
    card.frame = frame;
    return frame;
}

void MethodsTab::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    refreshDefaults();
}

void MethodsTab::refreshDefaults() {
    modelName_ = model_ ? modelDisplayName(QString::fromStdString(model_->folder())) : QString();
    header_->setText(
        model_ ? tr("The %1 methods of the edit-method table in the KME survey's three families; each card says "
                    "what the method changes, its defaults for <b>%2</b> and its paper.")
                     .arg(cards_.size())
                     .arg(modelName_.toHtmlEscaped())
               : tr("The %1 methods of the edit-method table in the KME survey's three families. Load a model "
                    "(File ▸ Open model folder) to see each method's defaults for it.")
                     .arg(cards_.size()));
    for (Card& c : cards_) {
        const DefaultsText d = defaultsFor(model_.get(), *c.info);
        c.changes->setText(tr("<b>Changes:</b> %1").arg(methodChangesText(*c.info, d.layers).toHtmlEscaped()));
        c.defaults->setText(tr("<b>Defaults:</b> %1").arg(d.html));
    }
}

QWidget* MethodsTab::familyColumn(kme::MethodFamily family) const {
    for (const auto& [f, column] : columns_)
        if (f == family) return column;
    return nullptr;
}

std::vector<QFrame*> MethodsTab::cards(kme::MethodFamily family) const {
    std::vector<QFrame*> out;
    QWidget* column = familyColumn(family);
    for (const Card& c : cards_)
        if (c.frame->parentWidget() == column) out.push_back(c.frame);
    return out;
}

QFrame* MethodsTab::card(kme::EditMethod method) const {
    for (const Card& c : cards_)
        if (c.info->method == method) return c.frame;
    return nullptr;
}

QPushButton* MethodsTab::openButton(kme::EditMethod method) const {
    for (const Card& c : cards_)
        if (c.info->method == method) return c.open;
    return nullptr;
}

QString MethodsTab::cardText(kme::EditMethod method) const {
    QFrame* frame = card(method);
    if (!frame) return {};
    QStringList parts;
    for (QLabel* label : frame->findChildren<QLabel*>()) parts << plainText(label->text());
    return parts.join(QLatin1Char('\n'));
}

void MethodsTab::chooseMethod(kme::EditMethod method) { Q_EMIT methodChosen(method); }

}  // namespace kme::app
