#pragma once
// The Edit tab's table of further requests edited together with the one
// above (batched methods: MEMIT, EMMET, AlphaEdit): rows of template,
// subject, new answer and optional current answer, added by hand or read
// from a CounterFact / zsRE / request-list JSON file (a job on the runner).
#include <QGroupBox>
#include <QString>
#include <functional>
#include <vector>

#include "engine/edit/EditRequest.h"

class QTableWidget;

namespace kme::app {

class JobRunner;

class EditBatchBox final : public QGroupBox {
    Q_OBJECT

public:
    // One filled row of the table, as typed (row: 0-based).
    struct Row {
        int row = 0;
        QString templ, subject, targetNew, targetTrue;
    };

    EditBatchBox(JobRunner* runner, QWidget* parent = nullptr);

    QTableWidget* table() const { return table_; }
    // The rows that are not blank (template, subject and new answer all empty = blank).
    std::vector<Row> filledRows() const;
    void addRow(const kme::EditRequest& request = {});
    void removeSelectedRows();
    // Reads the file on the runner into new rows; `loaded` runs on the GUI
    // thread after the rows were added. False when the job cannot start.
    bool loadFile(const QString& path, std::function<void()> loaded = {});

Q_SIGNALS:
    void changed();  // a row was added, removed or edited
    // The user picked a file in the Load dialog (the Edit tab loads it: EditTab::loadBatchFile).
    void fileChosen(const QString& path);

private:
    JobRunner* runner_;
    QTableWidget* table_ = nullptr;
};

}  // namespace kme::app
