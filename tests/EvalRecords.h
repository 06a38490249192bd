#pragma once
// CounterFact records that the evaluation tests share (engine/test_eval_curves,
// cli/test_eval_methods_cli): facts a tiny random model can be edited and
// scored on, record 1's neighbour being record 0's prompt.
#include <cstddef>
#include <iterator>
#include <string>

namespace kme::testing {

// The first n (at most 5) records as a CounterFact JSON list.
inline std::string counterFactRecords(size_t n) {
    static const char* const records[] = {
        R"( {"case_id": 10, "requested_rewrite": {"prompt": "The capital of {} is", "relation_id": "P36", "subject": "France",
   "target_new": {"str": "Rome"}, "target_true": {"str": "Paris"}},
  "paraphrase_prompts": ["France has its capital in"],
  "neighborhood_prompts": ["The capital of Japan is", "The capital of Italy is"]})",
        R"( {"case_id": 11, "requested_rewrite": {"prompt": "The capital of {} is", "relation_id": "P36", "subject": "Japan",
   "target_new": {"str": "Paris"}, "target_true": {"str": "Tokyo"}},
  "paraphrase_prompts": ["Japan has its capital in"],
  "neighborhood_prompts": ["The capital of France is", "The capital of Spain is"]})",
        R"( {"case_id": 12, "requested_rewrite": {"prompt": "{} is a country in", "relation_id": "P30", "subject": "Chile",
   "target_new": {"str": "Europe"}, "target_true": {"str": "America"}},
  "paraphrase_prompts": ["Chile lies in"],
  "neighborhood_prompts": ["Italy is a country in", "Peru is a country in"]})",
        R"( {"case_id": 13, "requested_rewrite": {"prompt": "The language of {} is", "relation_id": "P37", "subject": "Brazil",
   "target_new": {"str": "French"}, "target_true": {"str": "Portuguese"}},
  "paraphrase_prompts": ["People in Brazil speak"],
  "neighborhood_prompts": ["The language of Spain is"]})",
        R"( {"case_id": 14, "requested_rewrite": {"prompt": "{} plays the", "relation_id": "P1303", "subject": "Miles Davis",
   "target_new": {"str": "violin"}, "target_true": {"str": "trumpet"}},
  "paraphrase_prompts": ["Miles Davis is known for playing the"],
  "neighborhood_prompts": ["Louis Armstrong plays the"]})",
    };
    std::string out = "[\n";
    for (size_t i = 0; i < n && i < std::size(records); ++i) out += std::string(i ? ",\n" : "") + records[i];
    return out + "\n]";
}

}  // namespace kme::testing
