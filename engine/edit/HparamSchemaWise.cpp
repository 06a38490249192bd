// The hyper-parameter rows of WISE (Wang et al., NeurIPS 2024), appended to
// the schema of HparamSchema.cpp. Names and defaults follow zjunlp/EasyEdit
// hparams/WISE/llama-7b.yaml (act_margin [5, 20, 10] is split into alpha,
// beta and gamma, the names WISE.py reads).
#include <string>
#include <vector>

#include "engine/edit/HparamRows.h"

namespace kme {

namespace {

using json = nlohmann::json;

HparamSpec wiseNumber(const char* key, double min, double max, const char* help, double EditHparams::*field) {
    return doubleRow(key, min, max, {EditMethod::Wise}, help, field);
}

HparamSpec wiseInt(const char* key, int64_t min, int64_t max, const char* help, int EditHparams::*field) {
    return intFieldRow(key, min, max, {EditMethod::Wise}, help, field);
}

}  // namespace

void appendWiseHparamRows(std::vector<HparamSpec>& rows) {
    rows.push_back(wiseNumber("mask_ratio", 1e-6, 1, "share of the side memory's weights one knowledge shard trains "
                              "(a random mask, redrawn for each shard)", &EditHparams::wiseMaskRatio));
    rows.push_back(wiseNumber("edit_lr", 0, 100, "SGD learning rate of the side memory", &EditHparams::wiseLr));
    rows.push_back(wiseInt("n_iter", 1, 100000, "training steps at most (the --steps cap)", &EditHparams::wiseIters));
    rows.push_back(wiseNumber("norm_constraint", 0, 1e6, "the side memory stays within this of the layer's weights, "
                              "elementwise", &EditHparams::wiseNormConstraint));
    rows.push_back(wiseNumber("alpha", 0, 1e6, "unrelated inputs' activation gap is pushed below this",
                              &EditHparams::wiseAlpha));
    rows.push_back(wiseNumber("beta", 0, 1e6, "the edit's activation gap is pushed above this", &EditHparams::wiseBeta));
    rows.push_back(wiseNumber("gamma", 0, 1e6, "margin between the edit's gap and unrelated inputs' gap",
                              &EditHparams::wiseGamma));
    rows.push_back(wiseNumber("act_ratio", 1e-6, 1e3, "the side memory answers where its activation gap is at least "
                              "act_ratio x the smallest gap seen on its edits", &EditHparams::wiseActRatio));
    rows.push_back(wiseInt("save_freq", 1, 1000000, "edits per knowledge shard (then a new random mask)",
                           &EditHparams::wiseShardSize));
    rows.push_back(wiseInt("merge_freq", 1, 100000000, "edits whose shards are merged into one memory (TIES); a "
                           "multiple of save_freq", &EditHparams::wiseMergeFreq));
    rows.push_back(wiseNumber("densities", 1e-6, 1, "TIES's trim: the share of each shard's change kept (largest "
                              "magnitudes) when shards merge", &EditHparams::wiseDensity));
}

}  // namespace kme
