#pragma once
// Engine-internal: reading config.json keys (Config.cpp, ConfigFamilies.cpp).
// Every failure is a Config error naming the file and the key.
#include <cstdint>
#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/model/Config.h"

namespace kme::config_keys {

using json = nlohmann::json;

// Ranges of the config.json fields (parseModelConfig refuses anything outside
// them, naming the key): far beyond any model this program can run, small
// enough that shapes and parameter counts fit in int64.
constexpr int64_t kMaxLayers = 1024;          // n_layer
constexpr int64_t kMaxHeads = 4096;           // n_head, num_key_value_heads
constexpr int64_t kMaxEmbd = 65536;           // n_embd, head_dim
constexpr int64_t kMaxInner = 1 << 20;        // n_inner
constexpr int64_t kMaxVocab = 1 << 24;        // vocab_size, bos/eos ids
constexpr int64_t kMaxPositions = 1 << 20;    // n_positions / max_position_embeddings
constexpr int64_t kMaxParameters = 1ll << 40; // the parameter count they imply

// A present, non-null key.
bool has(const json& j, const char* key);
// The first of `keys` present (non-null) in j, or nullptr.
const char* firstKey(const json& j, std::initializer_list<const char*> keys);
int requiredInt(const json& j, std::initializer_list<const char*> keys, int64_t max, const std::string& source);
int optionalInt(const json& j, const char* key, int fallback, int64_t min, int64_t max, const std::string& source);
// A number in (min, max]; `where` prefixes the key in messages.
double optionalNumber(const json& j, const char* key, double fallback, double minExclusive, double max,
                      const std::string& where);
bool optionalBool(const json& j, const char* key, bool fallback, const std::string& source);
// The MLP activation (hidden_act / activation_function), validated and normalised.
std::string activation(const json& j, const char* key, const std::string& fallback, const std::string& source);
// bos_token_id / eos_token_id: an id, null, or a list of ids (the first one).
int tokenId(const json& j, const char* key, const std::string& source);

}  // namespace kme::config_keys

namespace kme {
// ConfigFamilies.cpp: the keys of the RoPE families (c.arch already set).
void parseFamilyConfig(const nlohmann::json& j, ModelConfig& c, const std::string& source);
nlohmann::json familyConfigJson(const ModelConfig& c);
}  // namespace kme
