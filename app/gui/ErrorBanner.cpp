#include "app/gui/ErrorBanner.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QStringList>
#include <QToolButton>

namespace kme::app {

namespace {
constexpr int kMaxLines = 3;         // a libtorch failure can be 40 lines: the rest is in the tooltip
constexpr int kMaxLineChars = 240;   // per line shown
}  // namespace

ErrorBanner::ErrorBanner(QWidget* parent) : QFrame(parent) {
    setObjectName(QStringLiteral("errorBanner"));
    setFrameShape(QFrame::StyledPanel);
    setStyleSheet(QStringLiteral("#errorBanner { background: #fdecea; border: 1px solid #e3a19a; }"
                                 "#errorBanner QLabel { color: #5f1610; }"));
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(10, 6, 6, 6);
    label_ = new QLabel(this);
    label_->setObjectName(QStringLiteral("errorBannerText"));
    label_->setTextFormat(Qt::PlainText);  // an engine message is never markup
    label_->setWordWrap(true);
    label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(label_, 1);
    dismiss_ = new QToolButton(this);
    dismiss_->setObjectName(QStringLiteral("errorBannerDismiss"));
    dismiss_->setText(tr("Dismiss"));
    dismiss_->setToolTip(tr("Hide this message (the status bar and the message box said the same)"));
    layout->addWidget(dismiss_, 0, Qt::AlignTop);
    connect(dismiss_, &QToolButton::clicked, this, &QWidget::hide);
    hide();
}

void ErrorBanner::showError(const QString& title, const QString& message) {
    QStringList lines;
    for (QString line : message.split(QLatin1Char('\n'))) {
        line = line.trimmed();
        if (line.isEmpty()) continue;
        if (lines.size() == kMaxLines) {
            lines.last() += QStringLiteral(" …");
            break;
        }
        if (line.size() > kMaxLineChars) line = line.left(kMaxLineChars - 1) + QChar(0x2026);
        lines << line;
    }
    QString text = QStringLiteral("⚠ ") + title;
    if (!lines.isEmpty()) text += QLatin1Char('\n') + lines.join(QLatin1Char('\n'));
    label_->setText(text);
    setToolTip(title + QLatin1Char('\n') + message);
    show();
}

QString ErrorBanner::text() const { return label_->text(); }

}  // namespace kme::app
