#pragma once
// Engine-internal: the attribution step that the knowledge-neuron edit
// (KnEdit.cpp) and suppress / amplify (NeuronScale.cpp) share, so that both
// act on the same neurons of a request. Torch-free.
#include <cstddef>
#include <string>

#include "engine/core/Progress.h"
#include "engine/trace/NeuronAttribution.h"

namespace kme {
struct EditHparams;
struct EditRequest;
}  // namespace kme

namespace kme::edit {

// The knowledge neurons of one request (Dai et al., ACL 2022, with EasyEdit's
// setting for GPT models: the edit prompt alone, no refinement): the old
// answer -- target_true's first token, else the model's top-1 -- attributed
// on the request's edit prompt with integrated gradients (hp.knSteps
// points), the neurons with score > hp.knThreshold x the largest kept.
// ErrorKind::Input naming the answer and the prompt when no neuron has a
// positive attribution ("... nothing to <use>").
NeuronResult requestNeurons(Model& model, const EditRequest& req, const EditHparams& hp, const ProgressFn& progress,
                            const std::string& use);

// The start of request r's note (r from 0): "request 1: 5 neurons attributed
// to ' Paris' (p(answer) 0.4120, 20 steps, threshold 0.2), layers ".
std::string requestNeuronsNote(size_t r, const NeuronResult& nr);

}  // namespace kme::edit
