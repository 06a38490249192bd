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

namespace {

QString readResource(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
}

}  // namespace

QString learnSection(const QString& file, const QString& section) {
    const QString text = readResource(QStringLiteral(":/learn/") + file);
    const QString open = QStringLiteral("<!--section:%1-->").arg(section);
    const QString close = QStringLiteral("<!--/section:%1-->").arg(section);
    const int begin = text.indexOf(open);
    const int end = begin < 0 ? -1 : text.indexOf(close, begin);
    if (end < 0) return {};
    return text.mid(begin + open.size(), end - begin - open.size());
}

QString expandLearnIncludes(QString html) {
    // <!--include:FILE#SECTION--> -> the section of resources/learn/FILE.
    static const QString marker = QStringLiteral("<!--include:");
    int at = 0;
    while ((at = html.indexOf(marker, at)) >= 0) {
        const int end = html.indexOf(QStringLiteral("-->"), at);
        if (end < 0) break;
        const QString target = html.mid(at + marker.size(), end - at - marker.size());
        const QString section = learnSection(target.section(QLatin1Char('#'), 0, 0), target.section(QLatin1Char('#'), 1));
        html.replace(at, end + 3 - at, section);
        at += int(section.size());
    }
    return html;
}

void LearnDock::showPage(const QString& page) {
    page_ = page;
    const QString path = QStringLiteral(":/learn/%1.html").arg(page);
    if (!QFile::exists(path)) {
        browser_->setHtml(tr("<p>No explanation for this view yet.</p>"));
        return;
    }
    // Read and set as HTML (not setSource): a page may show a section of
    // another page (one text, two places); relative links resolve in qrc:/learn/.
    browser_->setHtml(expandLearnIncludes(readResource(path)));
    browser_->document()->setBaseUrl(QUrl(QStringLiteral("qrc:/learn/")));
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
    if (!page_.isEmpty()) showPage(page_);
}

void LearnDock::changeEvent(QEvent* event) {
    QDockWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange) applyStyle();
}

}  // namespace kme::app
