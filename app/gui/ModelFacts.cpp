#include "app/gui/ModelFacts.h"

#include <QDir>
#include <QFileInfo>

#include "engine/model/Model.h"

namespace kme::app {

ModelFacts gatherModelFacts(const kme::Model& model) {
    const kme::ModelConfig& c = model.config();
    ModelFacts f;
    f.folder = QString::fromStdString(model.folder());
    f.name = modelDisplayName(f.folder);
    f.architecture = QString::fromStdString(c.modelType);  // config.json "model_type"
    f.nLayer = c.nLayer;
    f.nEmbd = c.nEmbd;
    f.nHead = c.nHead;
    f.nKvHead = c.kvHeads();
    f.headDim = c.headDim();
    f.layout = QString::fromStdString(kme::describePositions(c) + "; " + kme::describeNorm(c) + "; " +
                                      kme::describeResidual(c) + " residual; " +
                                      (c.traits().mlp == kme::MlpKind::Gated ? "gated MLP " : "MLP ") + c.activation);
    f.nInner = c.nInner;
    f.vocabSize = c.vocabSize;
    f.nPositions = c.nPositions;
    f.parameters = model.parameterCount();
    f.dtype = QString::fromStdString(model.storageDType());
    f.weightsHash = QString::fromStdString(model.weightsHash());
    return f;
}

QString modelDisplayName(const QString& folder) {
    const QFileInfo info(QDir::cleanPath(folder));
    const QString name = info.fileName();
    if (name.compare(QLatin1String("model"), Qt::CaseInsensitive) == 0) {
        const QString parent = info.dir().dirName();
        if (!parent.isEmpty() && parent != QLatin1String(".")) return parent + QLatin1Char('/') + name;
    }
    return name.isEmpty() ? folder : name;
}

QString formatParameterCount(qint64 n) {
    if (n >= 1'000'000'000) return QStringLiteral("%1 B").arg(n / 1e9, 0, 'f', 2);
    if (n >= 1'000'000) return QStringLiteral("%1 M").arg(n / 1e6, 0, 'f', 1);
    if (n >= 1'000) return QStringLiteral("%1 k").arg(n / 1e3, 0, 'f', 1);
    return QString::number(n);
}

}  // namespace kme::app
