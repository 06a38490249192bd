#pragma once
// The "Edit" tab: author a fact edit and run it. A request (template with
// {}, subject, new answer; the current answer is read from the model), a
// method (grouped by family, from the method table) with its layer(s)
// prefilled from the model's defaults or from the column clicked in Locate,
// the hyper-parameters in a collapsible box (HparamForm, generated from the
// schema), for batched methods a table of further requests edited together
// (EditBatchBox), and for MEND its editor and a way to train one
// (MendEditorPanel). Run computes the edit on the job runner (progress, cancel); the
// SessionController applies and records it, and the summary shows what
// changed: p(new) / p(true) before and after, the tensor, rank, norm, time.
#include <QWidget>
#include <memory>
#include <vector>

#include "engine/edit/EditMethod.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTextBrowser;
class QTimer;
class QToolButton;

namespace kme {
class Model;
}

namespace kme::app {

class EditBatchBox;
class JobControls;
class HparamForm;
class JobRunner;
class MendEditorPanel;
class SessionController;
struct EditRun;

class EditTab final : public QWidget {
    Q_OBJECT

public:
    EditTab(JobRunner* runner, SessionController* session, QWidget* parent = nullptr);
    ~EditTab() override;

    // The model edits run on (nullptr: none). Refreshes the method defaults.
    void setModel(std::shared_ptr<kme::Model> model);

    void setRequest(const QString& templ, const QString& subject, const QString& targetNew,
                    const QString& targetTrue = {});
    void setMethod(kme::EditMethod method);
    kme::EditMethod method() const;
    // Layers the run will edit (ROME / FT-L: one; MEMIT: first..last).
    std::vector<int> layers() const;
    void setLayer(int layer);
    // Why Run cannot start ("" = it can): string checks only, no engine call.
    QString inputError() const;
    // The requests Run would edit (normalized: leading spaces on targets).
    std::vector<kme::EditRequest> requests() const;
    bool isEditing() const { return editing_; }
    int64_t lastEditId() const { return lastEditId_; }

    QLineEdit* templateEdit() const { return template_; }
    QLineEdit* subjectEdit() const { return subject_; }
    QLineEdit* targetNewEdit() const { return targetNew_; }
    QLineEdit* targetTrueEdit() const { return targetTrue_; }
    QComboBox* methodCombo() const { return method_; }
    QSpinBox* layerSpin() const { return layer_; }
    QSpinBox* lastLayerSpin() const { return lastLayer_; }
    QToolButton* advancedToggle() const { return advancedToggle_; }
    QGroupBox* advancedBox() const { return advanced_; }
    // The generated hyper-parameter form, and two of its editors (nullptr
    // when the chosen method has no such key: FT-L has neither).
    HparamForm* hparamForm() const { return form_; }
    QSpinBox* vStepsSpin() const;
    QCheckBox* mom2Check() const;
    QGroupBox* batchBox() const;
    QTableWidget* batchTable() const;
    // MEND's editor: which file, whether it fits the live weights, training one.
    MendEditorPanel* mendPanel() const { return mend_; }
    QPushButton* runButton() const;
    QPushButton* cancelButton() const;
    JobControls* jobControls() const { return controls_; }
    QLabel* messageLabel() const { return message_; }
    QTextBrowser* summary() const { return summary_; }

public Q_SLOTS:
    // From Locate: the prompt with its subject replaced by {}, the subject,
    // and the clicked layer. The current answer is read again.
    void prefill(const QString& templ, const QString& subject, int layer);
    // Starts the edit; false when the inputs are wrong, nothing is loaded or a job runs.
    bool runEdit();
    void cancelEdit();
    // Adds an empty row to the MEMIT table / removes the selected rows.
    void addBatchRow(const kme::EditRequest& request = {});
    void removeBatchRows();
    // Reads a CounterFact / zsRE / request-list JSON into the table (a job).
    bool loadBatchFile(const QString& path);
    // Fills "Current answer" with the model's greedy answer to the filled
    // template (a short job; also started by itself after typing). False
    // when it cannot start now (then it runs once the runner is free).
    bool readCurrentAnswer();

Q_SIGNALS:
    // After Run: the edit was computed, applied and recorded (ok), or not.
    void editFinished(bool ok);
    // A fact file was read into the batch table (Compare looks up paraphrases there).
    void factFileLoaded(const QString& path);
    // After a readCurrentAnswer job (ok: it ran; the field may be unchanged if the user typed meanwhile).
    void currentAnswerRead(bool ok);

private:
    void buildUi();
    QWidget* buildAdvanced();
    void updateInputs();
    void updateMethodRows();
    void applyDefaults();          // method defaults of the model into the controls
    void syncMendEditor();         // the "editor" hyper-parameter into the MEND box
    void finishEdit(bool ok, const QString& note);
    kme::EditHparams hparamsFromControls(kme::EditHparams base) const;

    JobRunner* runner_;
    SessionController* session_;
    std::shared_ptr<kme::Model> model_;
    QLineEdit* template_ = nullptr;
    QLineEdit* subject_ = nullptr;
    QLineEdit* targetNew_ = nullptr;
    QLineEdit* targetTrue_ = nullptr;
    QLabel* message_ = nullptr;
    QComboBox* method_ = nullptr;
    QLabel* layerLabel_ = nullptr;
    QSpinBox* layer_ = nullptr;
    QLabel* toLabel_ = nullptr;
    QSpinBox* lastLayer_ = nullptr;
    QLabel* layerSource_ = nullptr;
    QToolButton* advancedToggle_ = nullptr;
    QGroupBox* advanced_ = nullptr;
    HparamForm* form_ = nullptr;
    EditBatchBox* batch_ = nullptr;
    MendEditorPanel* mend_ = nullptr;
    JobControls* controls_ = nullptr;  // Run, Cancel, progress
    QTextBrowser* summary_ = nullptr;
    QTimer* answerTimer_ = nullptr;
    bool targetTrueAuto_ = true;   // target_true holds the model's answer (not typed by the user)
    bool settingAnswer_ = false;   // the program is writing target_true
    bool answerPending_ = false;   // read the answer once the runner is free
    bool editing_ = false;         // an edit (compute or apply) is in flight
    int64_t lastEditId_ = 0;
    int chosenLayer_ = -1;         // the layer clicked in Locate (-1: none; the defaults apply)
    kme::EditHparams defaults_;    // of the current method and model
};

}  // namespace kme::app
