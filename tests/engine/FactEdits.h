#pragma once
// What the edit tests on the demo model share: an edit request from its
// prompt, subject and new target, and the next-token logits after a prompt.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/edit/EditRequest.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"

namespace kme::testing {

inline EditRequest request(const std::string& prompt, const std::string& subject, const std::string& target) {
    EditRequest r;
    r.prompt = prompt;
    r.subject = subject;
    r.targetNew = target;
    return normalizedRequest(r);
}

inline at::Tensor logitsOf(const Model& m, const std::string& prompt) {
    const std::vector<int> ids = m.encodePrompt(prompt);
    return m.transformer().lastLogits(std::vector<int64_t>(ids.begin(), ids.end()));
}

}  // namespace kme::testing
