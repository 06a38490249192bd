#pragma once
// Engine-internal (includes ATen): the two fine-tuning objectives of
// zjunlp/EasyEdit easyeditor/models/ft/ft_main.py, separated from the
// optimisation loop so tests can check them against a hand computation.
//  - prompt_last (FT-L, kmeng01/rome baselines/ft): every target token is
//    scored at the prompt's last position: loss_b = -(1/n_b) sum_j log p(t_j | prompt).
//  - target_new (FT-M, EasyEdit since 2024-03): the teacher-forced NLL of the
//    target tokens on the prompt+target sequence, the prompt positions masked:
//    loss_b = -(1/n_b) sum_{t = P_b}^{L_b - 1} log softmax(logits[b, t - 1])[ids[b, t]].
// Both average over the requests (loss = mean_b loss_b).
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace kme::edit {

enum class FineTuneObjective {
    PromptLast,  // EasyEdit "prompt_last": FT-L
    TargetNew,   // EasyEdit "target_new": FT-M
};

// prompt_last. lastLogits [B, V]: the logits at each prompt's last token;
// targets[b]: request b's target token ids (at least one each).
at::Tensor promptLastLoss(const at::Tensor& lastLogits, const std::vector<std::vector<int64_t>>& targets);

// target_new. logits [B, T, V] of the prompt+target sequences ids [B, T]
// (padded on the right); promptLen[b] = P_b, totalLen[b] = L_b (P_b < L_b <= T).
// The label mask is EasyEdit's label_mask[:, 1:]: position t - 1 predicts
// ids[b, t] for P_b <= t < L_b; every other position has weight 0.
at::Tensor targetNewLoss(const at::Tensor& logits, const at::Tensor& ids, const std::vector<int64_t>& promptLen,
                         const std::vector<int64_t>& totalLen);

}  // namespace kme::edit
