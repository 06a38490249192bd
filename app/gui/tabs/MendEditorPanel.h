#pragma once
// The Edit tab's box for MEND (issue 15): which trained editor a MEND edit
// uses and whether it fits the live weights, and a way to train one.
//
// The editor is the file the user chose (the "editor" hyper-parameter), else
// one trained in the window for the live weights (trainedEditorFolder()/
// <weights hash>.safetensors), else the model folder's
// mend-editor.safetensors. Its header (weights hash, config, split, steps) is
// read off the GUI thread (QtConcurrent: a file read, no model access) and
// compared with the live weights: the original weights hash while no enabled
// edit changes weights, else the session's current hash. An editor is a
// hyper-network learned for one set of weights, and the engine refuses any
// other (kme::edit::loadMendEditor); the box says so before Run does.
//
// Train (MendEditorTrain.cpp) runs the meta-training of `kme train-mend` (kme::trainMend, its
// defaults) as one job of the JobRunner: a time budget in minutes, progress,
// the trainer's log lines, Cancel. It writes to a side file and renames it
// into place only after it finished and was not cancelled: a cancelled or
// failed run leaves no editor file and no checkpoint.
#include <QGroupBox>
#include <QString>
#include <cstdint>
#include <memory>

class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTimer;
template <typename T>
class QFutureWatcher;

namespace kme {
class Model;
}

namespace kme::app {

class JobControls;
class JobRunner;
class SessionController;

// What the panel found (GUI-thread copy of kme::MendEditorInfo, or why not).
struct MendEditorHeader {
    QString path;
    QString error;             // "" = read
    QString weightsHash;       // of the weights it was trained for
    QList<int> layers;         // the layers whose MLP matrices it edits
    int rank = 0;
    int nHidden = 0;
    qint64 steps = 0;          // training steps behind it
    int trainSubjects = 0, validationSubjects = 0, testSubjects = 0;
    qint64 bytes = 0;          // file size
};

class MendEditorPanel final : public QGroupBox {
    Q_OBJECT

public:
    enum class State {
        NoModel,       // nothing loaded
        NoEditor,      // no file found: train one or choose one
        Reading,       // its header is being read
        Unreadable,    // not an editor file (the error says why)
        Matches,       // trained for the live weights: MEND can run
        OtherWeights,  // trained for other weights than the loaded model's
        EditsApplied,  // trained for the loaded model's original weights, but edits changed them
    };

    MendEditorPanel(JobRunner* runner, SessionController* session, QWidget* parent = nullptr);
    ~MendEditorPanel() override;

    void setModel(std::shared_ptr<kme::Model> model);
    // The file chosen by the user ("" = found by itself). Re-reads the editor.
    void setChosenPath(const QString& path);
    QString chosenPath() const { return chosen_; }
    // As setChosenPath, and tells the Edit tab (chosenPathChanged): the Choose button.
    void chooseFile(const QString& path);
    // The editor a MEND edit would use now ("" = none found).
    QString editorPath() const { return path_; }
    State state() const { return state_; }
    const MendEditorHeader& header() const { return header_; }
    // Why a MEND edit cannot run now ("" = it can). No engine call.
    QString runBlocker() const;
    // The weights hash the live weights have ("" = unknown: adapters mixed with weight edits, or rebuilding).
    QString liveWeightsHash() const;

    // Training.
    bool isTraining() const { return training_; }
    QString trainOutputPath() const;  // where Train would write now
    // Stop after this many steps as well as at the time budget (0 = the budget only; tests, scripts).
    void setTrainStepLimit(int64_t steps) { stepLimit_ = steps; }
    static QString trainedEditorFolder();  // AppDataLocation/mend-editors
    // The editor trained in the window for these weights ("" = none; weightsHash "" = none).
    static QString trainedEditorFor(const QString& weightsHash);

    QLabel* statusLabel() const { return status_; }
    QPushButton* chooseButton() const { return choose_; }
    QWidget* trainBox() const { return trainBox_; }
    QLineEdit* factsEdit() const { return facts_; }
    QDoubleSpinBox* minutesSpin() const { return minutes_; }
    QPushButton* trainButton() const;
    QPushButton* cancelTrainButton() const;
    QLabel* trainLogLabel() const { return log_; }

public Q_SLOTS:
    // Resolves the editor again and re-reads its header (weights or edits changed).
    void refresh();
    // Starts a training job; false when it cannot start (no model, no facts, a job runs).
    bool train();
    void cancelTraining();

Q_SIGNALS:
    void chosenPathChanged(const QString& path);
    void stateChanged();
    // After a training job: an editor was written (ok) or not (failed, cancelled).
    void trainingFinished(bool ok);

private:
    struct TrainLog;
    QString resolvePath() const;
    void setState(State s);
    void showState();
    void updateTrainControls();
    int weightEditsApplied() const;
    void pollTrainLog();  // the trainer's last log line into the box (MendEditorTrain.cpp)

    JobRunner* runner_;
    SessionController* session_;
    std::shared_ptr<kme::Model> model_;
    QString chosen_;
    QString path_;
    MendEditorHeader header_;
    State state_ = State::NoModel;
    int generation_ = 0;  // of header reads: a stale answer is dropped
    QFutureWatcher<MendEditorHeader>* watcher_ = nullptr;

    QLabel* status_ = nullptr;
    QPushButton* choose_ = nullptr;
    QPushButton* useDefault_ = nullptr;
    QWidget* trainBox_ = nullptr;
    QLabel* trainNote_ = nullptr;
    QLineEdit* facts_ = nullptr;
    QDoubleSpinBox* minutes_ = nullptr;
    JobControls* controls_ = nullptr;  // Train, Cancel, progress, the log line
    QLabel* log_ = nullptr;
    QTimer* logTimer_ = nullptr;
    std::shared_ptr<TrainLog> trainLog_;
    bool training_ = false;
    bool scoring_ = false;     // the budget is spent: the editor is being scored (minutes on a big split)
    bool factsTyped_ = false;  // the user chose the facts file (else: the model's project's facts.json)
    int64_t stepLimit_ = 0;
};

}  // namespace kme::app
