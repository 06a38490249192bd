#pragma once
// The "Methods" tab: the KME survey's taxonomy as a view. The three families
// are columns in the survey's order (external memorization, global
// optimization, local modification); every row of the method table
// (engine/edit/methods/MethodTable.h) is a card in its family's column: what
// it changes (its payload and layers), its defaults for the loaded model
// (engine/edit/EditDefaults.h: the per-model table and kme_edit_defaults.json)
// and its paper. "Open in Edit" selects the method in the Edit tab. The cards
// come from the table alone, so a new method is a new card without a change
// here. The Learn panel beside it shows the survey's formulation
// (resources/learn/methods.html).
#include <QWidget>
#include <memory>
#include <vector>

#include "engine/edit/EditMethod.h"
#include "engine/edit/methods/MethodTable.h"

class QFrame;
class QLabel;
class QPushButton;

namespace kme {
class Model;
}

namespace kme::app {

class MethodsTab final : public QWidget {
    Q_OBJECT

public:
    explicit MethodsTab(QWidget* parent = nullptr);

    // The model whose defaults the cards show (nullptr: the general defaults).
    void setModel(std::shared_ptr<kme::Model> model);

    // The column of a family (objectName "family_<familyName>") and its cards
    // in table order (objectName "method_<name>", property "kmeMethod" = the
    // EditMethod as int).
    QWidget* familyColumn(kme::MethodFamily family) const;
    std::vector<QFrame*> cards(kme::MethodFamily family) const;
    QFrame* card(kme::EditMethod method) const;
    // A card's "Open in Edit" button.
    QPushButton* openButton(kme::EditMethod method) const;
    // The card's text as shown (rich text stripped), for tests and tooltips.
    QString cardText(kme::EditMethod method) const;

    // What the model the cards describe is called ("" when none is loaded).
    QString modelName() const { return modelName_; }

public Q_SLOTS:
    // What "Open in Edit" does: emits methodChosen(method).
    void chooseMethod(kme::EditMethod method);

Q_SIGNALS:
    // The user chose a method to edit with (MainWindow opens the Edit tab on it).
    void methodChosen(kme::EditMethod method);

private:
    struct Card {
        const kme::MethodInfo* info = nullptr;
        QFrame* frame = nullptr;
        QLabel* changes = nullptr;   // what it changes (payload, layers)
        QLabel* defaults = nullptr;  // its defaults for the loaded model
        QPushButton* open = nullptr;
    };
    void buildUi();
    QFrame* buildCard(const kme::MethodInfo& info, Card& card);
    void refreshDefaults();

    std::shared_ptr<kme::Model> model_;
    QString modelName_;
    QLabel* header_ = nullptr;
    std::vector<std::pair<kme::MethodFamily, QWidget*>> columns_;
    std::vector<Card> cards_;
};

// What a method changes, in words, from its payload kind, its layer shape
// and its default layers for a model (empty: none known): "weights at layer 1".
QString methodChangesText(const kme::MethodInfo& info, const std::vector<int>& layers);
// A list of layers as text: {1} -> "layer 1", {0,1,2} -> "layers 0-2", {1,3} -> "layers 1, 3".
QString layersText(const std::vector<int>& layers);

}  // namespace kme::app
