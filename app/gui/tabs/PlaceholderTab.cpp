#include "app/gui/tabs/PlaceholderTab.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

namespace kme::app {

PlaceholderTab::PlaceholderTab(const QString& heading, const QString& sentence, QWidget* parent) : QWidget(parent) {
    // A centred column of bounded width. The labels fill the column (no
    // alignment flag in addWidget): a word-wrapped QLabel given only its
    // size hint's width would wrap into a one-line-high box and lose text.
    auto* column = new QWidget(this);
    column->setMaximumWidth(560);
    auto* inner = new QVBoxLayout(column);
    inner->setContentsMargins(0, 0, 0, 0);
    auto* title = new QLabel(heading, column);
    QFont f = title->font();
    f.setPointSizeF(f.pointSizeF() * 1.4);
    f.setBold(true);
    title->setFont(f);
    auto* text = new QLabel(sentence, column);
    text->setObjectName(QStringLiteral("placeholderText"));
    auto* hint = new QLabel(tr("The Learn panel on the right already explains what this view will show."), column);
    hint->setForegroundRole(QPalette::PlaceholderText);  // muted, but from the palette
    for (QLabel* l : {title, text, hint}) {
        l->setWordWrap(true);
        l->setAlignment(Qt::AlignHCenter);
    }
    inner->addWidget(title);
    inner->addWidget(text);
    inner->addSpacing(6);
    inner->addWidget(hint);

    auto* row = new QHBoxLayout;
    row->addStretch(1);
    row->addWidget(column, 4);
    row->addStretch(1);
    auto* layout = new QVBoxLayout(this);
    layout->addStretch(2);
    layout->addLayout(row);
    layout->addStretch(3);
}

}  // namespace kme::app
