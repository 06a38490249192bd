#include "engine/edit/EditSetup.h"

#include "engine/edit/EditRequest.h"

#include "engine/core/Error.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/KeyStatistics.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/eval/Dataset.h"

namespace kme {

EditSetup setUpEdit(const Model& model, EditMethod method, const EditOverrides& o) {
    const MethodInfo& info = methodInfo(method);
    EditSetup setup;
    EditParams& p = setup.params;
    p.method = method;
    p.seed = o.seed;
    // 1. Defaults: the model table, then kme_edit_defaults.json.
    const EditDefaults defaults = editDefaults(model, method);
    p.hparams = defaults.hparams;
    setup.layerSource = defaults.layerSource;
    // 2. Overrides, in order: a whole set, a JSON object, then single values.
    if (o.hparams) p.hparams = *o.hparams;
    if (o.hparamsJson)
        applyHparamsJson(p.hparams, method, *o.hparamsJson, o.hparamsSource.empty() ? "hyper-parameters" : o.hparamsSource);
    if (o.layers) p.hparams.layers = *o.layers;
    if (p.hparams.layers != defaults.hparams.layers) setup.layerSource.clear();
    if (o.mendEditor) p.hparams.mendEditor = *o.mendEditor;
    if (o.steps) {
        // The method's step-count key, through its schema row.
        const HparamSpec* spec = info.stepsKey[0] ? findHparam(method, info.stepsKey) : nullptr;
        if (spec) {
            checkHparamValue(*spec, *o.steps, "the step count");
            spec->set(p.hparams, *o.steps);
        } else if (!o.stepsWhereKnown) {
            failEdit(EditProblem::NoSteps, std::string(info.displayName) + " has no optimisation steps", info.name);
        }
    }
    if (o.identityStatistics) p.hparams.mom2Adjustment = false;
    if (o.statsSamples) p.hparams.mom2Samples = *o.statsSamples;
    if (o.statsTokens) p.hparams.mom2Tokens = *o.statsTokens;
    validateHparams(p.hparams, method, o.hparamsSource.empty() ? "hyper-parameters" : o.hparamsSource);

    // 3. A method with layers needs them (checked before any corpus is read).
    if (o.requireLayers && info.layers != LayerShape::None && p.hparams.layers.empty())
        failEdit(EditProblem::NoLayer, std::string("no default ") + info.name + " layer is known for this model", info.name);
    if (info.layers != LayerShape::None && !p.hparams.layers.empty()) validateLayers(model, p.hparams.layers);
    // 4. What the method reads besides its hyper-parameters.
    if (info.needsKeyStatistics && p.hparams.mom2Adjustment) {
        if (o.statsCorpus) {
            p.statsTexts = o.statsCorpus->texts;
            p.statsLabel = o.statsCorpus->label;
        } else if (o.statsCorpusFile) {
            p.statsLabel = *o.statsCorpusFile;
            p.statsTexts = loadTextCorpus(p.statsLabel);
        } else {
            StatsCorpus c = defaultStatsCorpus(model);
            p.statsTexts = std::move(c.texts);
            p.statsLabel = std::move(c.label);
        }
        if (p.statsTexts.empty()) {
            if (o.missingCorpus == EditOverrides::MissingCorpus::Refuse)
                failEdit(EditProblem::NoStatsCorpus,
                         std::string(info.displayName) +
                             ": key statistics need a text corpus, and none is known for this model (its folder's " +
                             kEditDefaultsFile + " names none)",
                         info.name);
            p.hparams.mom2Adjustment = false;
            p.statsLabel.clear();
            setup.notes.push_back("no text corpus is known for this model: key statistics C = identity");
        }
    }
    if (info.needsDemonstrations) {
        if (o.demonstrationsFile) {
            p.demonstrationsLabel = *o.demonstrationsFile;
            p.demonstrations = loadDataset(p.demonstrationsLabel).records;
        } else {
            DemonstrationFacts d = defaultDemonstrations(model);
            p.demonstrations = std::move(d.records);
            p.demonstrationsLabel = std::move(d.label);
        }
    }
    return setup;
}

}  // namespace kme
