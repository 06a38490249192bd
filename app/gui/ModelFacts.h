#pragma once
// What the window shows about a loaded model, gathered once on the worker
// thread (the weights hash reads every weight byte: seconds for GPT-2 XL).
#include <QString>
#include <QtGlobal>
#include <memory>

namespace kme {
class Model;
}

namespace kme::app {

struct ModelFacts {
    QString name;          // short display name for the title bar ("gpt2-xl")
    QString folder;        // absolute model folder
    QString architecture;  // config.json model_type ("gpt2")
    int nLayer = 0;        // transformer blocks
    int nEmbd = 0;         // residual width d_model
    int nHead = 0;         // attention heads per block
    int nKvHead = 0;       // key/value heads (grouped-query attention: fewer than nHead)
    int headDim = 0;       // dimensions per head
    QString layout;        // the family's block in words (positions, norm, residual, MLP)
    int nInner = 0;        // MLP hidden width
    int vocabSize = 0;     // rows of the token embedding
    int nPositions = 0;    // context length, tokens
    qint64 parameters = 0; // unique parameters
    QString dtype;         // storage dtype in the checkpoint ("F32")
    QString weightsHash;   // 64 hex characters (DESIGN.md weights identity)
};

// A model and its facts: what a load job hands to the window.
struct LoadedModel {
    std::shared_ptr<kme::Model> model;
    ModelFacts facts;
};

// Reads the facts; call on the worker thread (hashes all weights).
ModelFacts gatherModelFacts(const kme::Model& model);

// "…/gpt2-xl" -> "gpt2-xl"; a folder named just "model" (the demo's
// projects/demo/model) is shown with its parent: "demo/model".
QString modelDisplayName(const QString& folder);

// 124439808 -> "124.4 M"; 1557611200 -> "1.56 B".
QString formatParameterCount(qint64 n);

}  // namespace kme::app
