#include "app/gui/tabs/EditSummary.h"

#include <QCoreApplication>
#include <cmath>

#include "app/gui/widgets/Tones.h"
#include "engine/edit/EditWorkflow.h"
#include "engine/edit/Payload.h"
#include "engine/model/Model.h"
#include "engine/session/SessionStore.h"

namespace kme::app {

namespace {

QString tr(const char* text) { return QCoreApplication::translate("EditTab", text); }

QString prob(double p) {
    if (std::isnan(p)) return QStringLiteral("—");
    if (p != 0 && p < 1e-4) return QString::number(p, 'e', 1);
    return QString::number(p, 'f', 4);
}

QString htmlToken(const std::string& s) { return QString::fromStdString(s).trimmed().toHtmlEscaped(); }

}  // namespace

RequestProbs requestProbs(const kme::RequestScore& s) {
    RequestProbs p;
    p.pNew = s.pNew;
    if (s.pTrue) p.pTrue = *s.pTrue;
    return p;
}

std::string answerOf(const std::string& continuation) {
    std::string out;
    for (char c : continuation) {
        if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == '\n' || c == '<') break;
        out += c;
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
    return out.find_first_not_of(' ') == std::string::npos ? std::string() : out;
}

QString editSummaryHtml(const EditRun& run, const kme::EditRecord* record, const QString& hashAfter, const QPalette& pal) {
    const kme::EditResult& r = *run.result;
    const QString up = pal.color(QPalette::Base).lightnessF() < 0.5 ? QStringLiteral("#7fd17f") : QStringLiteral("#1b7f2a");
    const QString down = errorColor(pal).name();
    QString layers;
    for (int l : r.layers) layers += (layers.isEmpty() ? QString() : QStringLiteral(", ")) + QString::number(l);
    QString html = tr("<h3>%1 edited layer%2 %3 in %4 s</h3>")
                       .arg(QString::fromUtf8(kme::methodInfo(r.method).displayName),
                            r.layers.size() > 1 ? QStringLiteral("s") : QString(), layers)
                       .arg(r.seconds, 0, 'f', 2);
    if (record)
        html += tr("<p>Saved in the session as #%1 “%2”. Undo it with Ctrl+Z or its box in the History dock; "
                   "see the answers change in the Compare tab.</p>")
                    .arg(record->position)
                    .arg(QString::fromStdString(record->name).toHtmlEscaped());
    auto arrow = [&](double before, double after) {
        if (std::isnan(before)) return QStringLiteral("—");
        const QString colour = after > before ? up : after < before ? down : pal.color(QPalette::Text).name();
        return QStringLiteral("%1 → <b style=\"color:%3\">%2</b>").arg(prob(before), prob(after), colour);
    };
    html += QStringLiteral("<table cellspacing=\"0\" cellpadding=\"3\" border=\"0\"><tr><th align=\"left\">%1</th>"
                           "<th align=\"left\">%2</th><th align=\"left\">%3</th><th align=\"left\">%4</th>"
                           "<th align=\"left\">%5</th></tr>")
                .arg(tr("Prompt"), tr("New answer"), tr("p(new) before → after"), tr("Old answer"),
                     tr("p(old) before → after"));
    const size_t shown = std::min<size_t>(run.requests.size(), 10);
    for (size_t i = 0; i < shown; ++i) {
        const auto& q = run.requests[i];
        const RequestProbs b = i < run.before.size() ? run.before[i] : RequestProbs{};
        const RequestProbs a = i < run.after.size() ? run.after[i] : RequestProbs{};
        html += QStringLiteral("<tr><td>%1</td><td>%2</td><td>%3</td><td>%4</td><td>%5</td></tr>")
                    .arg(QString::fromStdString(q.filledPrompt()).toHtmlEscaped(), htmlToken(q.targetNew),
                         arrow(b.pNew, a.pNew), q.targetTrue.empty() ? QStringLiteral("?") : htmlToken(q.targetTrue),
                         arrow(b.pTrue, a.pTrue));
    }
    html += QStringLiteral("</table>");
    if (run.requests.size() > shown) html += tr("<p>… and %1 more requests.</p>").arg(run.requests.size() - shown);
    html += QStringLiteral("<ul>");
    if (r.payloadKind != kme::PayloadKind::Weights)
        html += tr("<li>%1 — the model's weights are unchanged</li>")
                    .arg(QString::fromStdString(r.payload().describe()).toHtmlEscaped());
    for (const auto& note : r.notes) html += QStringLiteral("<li>%1</li>").arg(QString::fromStdString(note).toHtmlEscaped());
    for (const auto& part : r.delta.parts)
        html += tr("<li>Changed <tt>%1</tt> %2: %3, Frobenius norm %4</li>")
                    .arg(QString::fromStdString(part.tensor).toHtmlEscaped())
                    .arg(QStringLiteral("[%1 × %2]").arg(part.rows()).arg(part.cols()))
                    .arg(part.kind == kme::TensorDelta::Kind::LowRank ? tr("rank %1").arg(part.rank())
                                                                       : tr("dense change"))
                    .arg(part.norm(), 0, 'g', 4);
    for (const auto& st : r.stats)
        html += tr("<li>Key statistics C of layer %1: %2 texts, %3 tokens, %4</li>")
                    .arg(st.layer)
                    .arg(st.samples)
                    .arg(st.tokens)
                    .arg(st.fromCache ? tr("from the cache") : tr("computed in %1 s").arg(st.seconds, 0, 'f', 1));
    if (kme::methodInfo(r.method).needsKeyStatistics && !r.hparams.mom2Adjustment)
        html += tr("<li>Key statistics off: C is the identity.</li>");
    if (!r.requests.empty() && !r.requests.front().losses.empty()) {
        const auto& losses = r.requests.front().losses;
        html += tr("<li>Optimisation loss %1 → %2 in %3 steps</li>")
                    .arg(losses.front(), 0, 'g', 3)
                    .arg(losses.back(), 0, 'g', 3)
                    .arg(losses.size());
    }
    html += tr("<li>Weights hash %1 → %2</li>")
                .arg(run.hashBefore.left(12), hashAfter.left(12));
    html += QStringLiteral("</ul>");
    return html;
}

}  // namespace kme::app
