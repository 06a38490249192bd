#pragma once
// Right dock "Learn": explains the current view. The pages are HTML kept as
// resources (resources/learn/<page>.html), one per centre tab, so that
// teachers can improve the texts without touching code.
#include <QDockWidget>

class QTextBrowser;

namespace kme::app {

// The text of resources/learn/FILE between <!--section:NAME--> and
// <!--/section:NAME--> ("" when there is none).
QString learnSection(const QString& file, const QString& section);
// `html` with every <!--include:FILE#NAME--> replaced by that section: a page
// may show a section of another page, so one text serves two views.
QString expandLearnIncludes(QString html);

class LearnDock final : public QDockWidget {
    Q_OBJECT

public:
    explicit LearnDock(QWidget* parent = nullptr);

    // Shows resources/learn/<page>.html ("predict", "locate", ...), its
    // includes expanded.
    void showPage(const QString& page);
    QString currentPage() const { return page_; }
    QTextBrowser* browser() const { return browser_; }

protected:
    void changeEvent(QEvent* event) override;

private:
    void applyStyle();

    QTextBrowser* browser_ = nullptr;
    QString page_;
};

}  // namespace kme::app
