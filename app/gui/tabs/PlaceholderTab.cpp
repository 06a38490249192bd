#include "app/gui/tabs/PlaceholderTab.h"

#include <QLabel>
#include <QVBoxLayout>

namespace kme::app {

PlaceholderTab::PlaceholderTab(const QString& heading, const QString& sentence, QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    auto* title = new QLabel(heading, this);
    QFont f = title->font();
    f.setPointSizeF(f.pointSizeF() * 1.4);
    f.setBold(true);
    title->setFont(f);
    auto* text = new QLabel(sentence, this);
    text->setObjectName(QStringLiteral("placeholderText"));
    text->setWordWrap(true);
    text->setMaximumWidth(560);
    auto* hint = new QLabel(tr("The Learn panel on the right already explains what this view will show."), this);
    hint->setWordWrap(true);
    hint->setMaximumWidth(560);
    hint->setForegroundRole(QPalette::PlaceholderText);  // muted, but from the palette
    for (QLabel* l : {title, text, hint}) l->setAlignment(Qt::AlignHCenter);
    layout->addStretch(2);
    layout->addWidget(title, 0, Qt::AlignHCenter);
    layout->addWidget(text, 0, Qt::AlignHCenter);
    layout->addSpacing(6);
    layout->addWidget(hint, 0, Qt::AlignHCenter);
    layout->addStretch(3);
}

}  // namespace kme::app
