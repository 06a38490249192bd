#include "app/gui/docks/ModelDock.h"

#include <QFormLayout>
#include <QLabel>
#include <QLocale>
#include <QStackedWidget>
#include <QVBoxLayout>

namespace kme::app {

ModelDock::ModelDock(QWidget* parent) : QDockWidget(tr("Model"), parent) {
    setObjectName(QStringLiteral("modelDock"));  // saveState() needs a name
    stack_ = new QStackedWidget(this);

    empty_ = new QLabel(tr("<p><b>No model loaded.</b></p>"
                           "<p>Open a model folder with <b>File ▸ Open model folder…</b> (Ctrl+O): "
                           "a Hugging Face folder with <tt>config.json</tt>, <tt>model.safetensors</tt> "
                           "and the tokenizer files, such as GPT-2 or the demo model.</p>"),
                        stack_);
    empty_->setWordWrap(true);
    empty_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    empty_->setMargin(8);
    stack_->addWidget(empty_);

    auto* page = new QWidget(stack_);
    auto* outer = new QVBoxLayout(page);
    form_ = new QFormLayout;
    form_->setRowWrapPolicy(QFormLayout::WrapLongRows);
    form_->setLabelAlignment(Qt::AlignLeft);
    outer->addLayout(form_);
    outer->addStretch(1);
    architecture_ = addRow(tr("Architecture"));
    shape_ = addRow(tr("Layers × width"));
    heads_ = addRow(tr("Attention heads"));
    mlp_ = addRow(tr("MLP width"));
    vocab_ = addRow(tr("Vocabulary"));
    context_ = addRow(tr("Context"));
    parameters_ = addRow(tr("Parameters"));
    dtype_ = addRow(tr("Stored as"));
    hash_ = addRow(tr("Weights hash"));
    folder_ = addRow(tr("Folder"));
    folder_->setWordWrap(true);
    stack_->addWidget(page);

    setWidget(stack_);
    clearFacts();
}

QLabel* ModelDock::addRow(const QString& label) {
    auto* value = new QLabel(this);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);  // users copy hashes and paths
    form_->addRow(label + QLatin1Char(':'), value);
    rows_.append({label, value});
    return value;
}

void ModelDock::setFacts(const ModelFacts& f) {
    const QLocale locale;
    architecture_->setText(f.architecture);
    architecture_->setToolTip(f.layout);
    shape_->setText(QStringLiteral("%1 × %2").arg(f.nLayer).arg(f.nEmbd));
    shape_->setToolTip(tr("%1 transformer blocks; the residual stream has %2 numbers per token").arg(f.nLayer).arg(f.nEmbd));
    heads_->setText(f.nKvHead > 0 && f.nKvHead != f.nHead ? tr("%1 (%2 key/value)").arg(f.nHead).arg(f.nKvHead)
                                                          : QString::number(f.nHead));
    heads_->setToolTip(tr("%1 dimensions per head").arg(f.headDim));
    mlp_->setText(locale.toString(f.nInner));
    mlp_->setToolTip(tr("Hidden width of each MLP: the keys ROME edits live here"));
    vocab_->setText(tr("%1 tokens").arg(locale.toString(f.vocabSize)));
    context_->setText(tr("%1 tokens").arg(locale.toString(f.nPositions)));
    parameters_->setText(formatParameterCount(f.parameters));
    parameters_->setToolTip(locale.toString(f.parameters));
    dtype_->setText(f.dtype);
    dtype_->setToolTip(tr("Number format of the weights in the checkpoint; computation runs in float32"));
    hash_->setText(f.weightsHash.left(12) + QStringLiteral("…"));
    hash_->setToolTip(tr("SHA-256 over all tensors (name, dtype, shape, bytes):\n%1").arg(f.weightsHash));
    folder_->setText(f.folder);
    folder_->setToolTip(f.folder);
    stack_->setCurrentIndex(1);
}

void ModelDock::clearFacts() {
    for (auto& row : rows_) {
        row.second->clear();
        row.second->setToolTip({});
    }
    stack_->setCurrentIndex(0);
}

QString ModelDock::factText(const QString& label) const {
    for (const auto& row : rows_)
        if (row.first == label) return row.second->text();
    return {};
}

}  // namespace kme::app
