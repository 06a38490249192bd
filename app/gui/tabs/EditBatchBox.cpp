#include "app/gui/tabs/EditBatchBox.h"

#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QPushButton>
#include <QSettings>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <functional>
#include <memory>

#include "app/gui/JobRunner.h"

namespace kme::app {

namespace {

const char* const kLastBatchDirKey = "edit/lastBatchDir";

enum BatchColumn { kTemplateCol, kSubjectCol, kNewCol, kTrueCol, kBatchCols };

}  // namespace

EditBatchBox::EditBatchBox(JobRunner* runner, QWidget* parent)
    : QGroupBox(tr("Further requests, edited together with the one above (MEMIT)"), parent), runner_(runner) {
    setObjectName(QStringLiteral("batchBox"));
    auto* layout = new QVBoxLayout(this);
    table_ = new QTableWidget(0, kBatchCols, this);
    table_->setObjectName(QStringLiteral("batchTable"));
    table_->setHorizontalHeaderLabels({tr("Template ({} = subject)"), tr("Subject"), tr("New answer"),
                                       tr("Current answer (optional)")});
    table_->horizontalHeader()->setSectionResizeMode(kTemplateCol, QHeaderView::Stretch);
    table_->verticalHeader()->setVisible(false);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setMinimumHeight(110);
    layout->addWidget(table_);
    auto* buttons = new QHBoxLayout;
    auto* addRowButton = new QPushButton(tr("&Add row"), this);
    auto* removeRows = new QPushButton(tr("&Remove selected"), this);
    auto* load = new QPushButton(tr("&Load CounterFact JSON…"), this);
    load->setToolTip(tr("A CounterFact or zsRE file, or a list of {prompt, subject, target_new, target_true}"));
    buttons->addWidget(addRowButton);
    buttons->addWidget(removeRows);
    buttons->addWidget(load);
    buttons->addStretch(1);
    layout->addLayout(buttons);
    connect(addRowButton, &QPushButton::clicked, this, [this] { addRow(); });
    connect(removeRows, &QPushButton::clicked, this, &EditBatchBox::removeSelectedRows);
    connect(load, &QPushButton::clicked, this, [this] {
        QSettings settings;
        const QString path = QFileDialog::getOpenFileName(this, tr("Load edit requests"),
                                                          settings.value(kLastBatchDirKey).toString(),
                                                          tr("JSON files (*.json);;All files (*)"));
        if (path.isEmpty()) return;
        settings.setValue(kLastBatchDirKey, QFileInfo(path).absolutePath());
        Q_EMIT fileChosen(path);
    });
    connect(table_, &QTableWidget::itemChanged, this, &EditBatchBox::changed);
}

std::vector<EditBatchBox::Row> EditBatchBox::filledRows() const {
    std::vector<Row> out;
    for (int row = 0; row < table_->rowCount(); ++row) {
        auto cell = [&](int col) {
            const QTableWidgetItem* item = table_->item(row, col);
            return item ? item->text() : QString();
        };
        if (cell(kTemplateCol).isEmpty() && cell(kSubjectCol).isEmpty() && cell(kNewCol).isEmpty()) continue;
        out.push_back({row, cell(kTemplateCol), cell(kSubjectCol), cell(kNewCol), cell(kTrueCol)});
    }
    return out;
}

void EditBatchBox::addRow(const kme::EditRequest& request) {
    const int row = table_->rowCount();
    table_->insertRow(row);
    auto trimmed = [](const std::string& s) { return QString::fromStdString(s).trimmed(); };
    table_->setItem(row, kTemplateCol, new QTableWidgetItem(QString::fromStdString(request.prompt)));
    table_->setItem(row, kSubjectCol, new QTableWidgetItem(QString::fromStdString(request.subject)));
    table_->setItem(row, kNewCol, new QTableWidgetItem(trimmed(request.targetNew)));
    table_->setItem(row, kTrueCol, new QTableWidgetItem(trimmed(request.targetTrue)));
    Q_EMIT changed();
}

void EditBatchBox::removeSelectedRows() {
    QList<int> rows;
    for (const QModelIndex& index : table_->selectionModel()->selectedRows()) rows << index.row();
    std::sort(rows.begin(), rows.end(), std::greater<int>());
    for (int row : rows) table_->removeRow(row);
    Q_EMIT changed();
}

bool EditBatchBox::loadFile(const QString& path, std::function<void()> loaded) {
    auto requests = std::make_shared<std::vector<kme::EditRequest>>();
    const std::string file = QFile::encodeName(path).toStdString();
    return runner_->start(
        tr("Reading %1").arg(QFileInfo(path).fileName()),
        [requests, file](const kme::ProgressFn&) { *requests = kme::loadEditRequests(file); },
        [this, requests, loaded] {
            table_->setUpdatesEnabled(false);
            for (const auto& r : *requests) addRow(r);
            table_->setUpdatesEnabled(true);
            if (loaded) loaded();
        });
}

}  // namespace kme::app
