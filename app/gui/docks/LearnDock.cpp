#include "app/gui/docks/LearnDock.h"

#include <QEvent>
#include <QFile>
#include <QTextBrowser>
#include <QUrl>

namespace kme::app {

LearnDock::LearnDock(QWidget* parent) : QDockWidget(tr("Learn"), parent) {
    setObjectName(QStringLiteral("learnDock"));
    browser_ = new QTextBrowser(this);
    browser_->setObjectName(QStringLiteral("learnBrowser"));
    browser_->setOpenExternalLinks(true);  // references open in the web browser
    browser_->setFrameShape(QFrame::NoFrame);
    setWidget(browser_);
    applyStyle();
}

void LearnDock::showPage(const QString& page) {
    page_ = page;
    const QString path = QStringLiteral(":/learn/%1.html").arg(page);
    if (!QFile::exists(path)) {
        browser_->setHtml(tr("<p>No explanation for this view yet.</p>"));
        return;
    }
    browser_->setSource(QUrl(QStringLiteral("qrc") + path));
}

void LearnDock::applyStyle() {
    // Layout only: colours come from the palette (QTextBrowser draws text in
    // QPalette::Text on QPalette::Base), so the pages read in dark themes too.
    QString style;
    QFile css(QStringLiteral(":/learn/learn.css"));
    if (css.open(QIODevice::ReadOnly)) style = QString::fromUtf8(css.readAll());
    // Equations use the palette's link colour as an accent.
    style += QStringLiteral("\n.eq { color: %1; }\n").arg(palette().color(QPalette::Link).name());
    browser_->document()->setDefaultStyleSheet(style);
    if (!page_.isEmpty()) browser_->reload();
}

void LearnDock::changeEvent(QEvent* event) {
    QDockWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange) applyStyle();
}

}  // namespace kme::app
