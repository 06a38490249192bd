#pragma once
// A loaded language model: config + tokenizer + weights. Torch-free facade
// that the command line and the app use; engine code that needs tensors
// reaches the Transformer (engine/model/Transformer.h) through transformer().
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/Config.h"
#include "engine/tokenizer/Tokenizer.h"

namespace kme {

class Transformer;

struct TokenProb {
    int id = 0;
    std::string token;  // decoded text (U+FFFD for a partial UTF-8 character)
    double prob = 0;    // full-softmax probability, 0..1
};

struct GenerateParams {
    int maxNewTokens = 20;  // tokens appended at most
    int topK = 1;           // 1 = greedy; k > 1 samples among the k most likely
    uint64_t seed = 0;      // sampling seed (ignored when greedy)
    bool stopAtEos = true;  // stop after <|endoftext|>
};

struct GenerateResult {
    std::vector<int> ids;  // new tokens only
    std::string text;      // their decoded text
};

struct LoadOptions {
    bool float64 = false;  // compute in float64 (tests); default float32
    // F16/BF16 weights: false (default) keeps them in their storage dtype,
    // mmap'd, converted where used; true converts the whole model to the
    // compute dtype at load (the behaviour before half weights stayed half;
    // benchmarks compare the two).
    bool halfToCompute = false;
};

class Model {
public:
    // Loads a Hugging Face model folder (config.json, model.safetensors or a
    // sharded index, vocab.json + merges.txt or tokenizer.json). Throws
    // kme::Error naming the file at fault.
    static std::shared_ptr<Model> load(const std::string& folder, const LoadOptions& options = {});
    // Wraps weights already in memory (train-demo, tests). `tensors` keyed by
    // canonical names.
    static std::shared_ptr<Model> fromParts(const std::string& folder, ModelConfig config, Tokenizer tokenizer,
                                            std::unique_ptr<Transformer> transformer);
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const std::string& folder() const;
    const ModelConfig& config() const;
    const Tokenizer& tokenizer() const;
    Transformer& transformer();
    const Transformer& transformer() const;

    std::string storageDType() const;  // dtype in the checkpoint, e.g. "F32"
    int64_t parameterCount() const;    // unique parameters (a tied lm_head counted once)
    // DESIGN.md's weights hash of the live weights (after any edits), in the
    // checkpoint's dtypes. Cached until a tensor changes.
    // Kept per tensor: the hash state before each tensor (in name order) is
    // cached with the tensor's version, so after an edit or an undo the hash
    // resumes from the first tensor that changed (the value is DESIGN.md's
    // definition, unchanged: sessions and editors keep matching).
    std::string weightsHash() const;
    // Tensors fed to the weights hash so far by this model (tests, benchmarks).
    int64_t hashedTensorCount() const;
    // DESIGN.md's state hash: the live model's identity with what the edit
    // stack put beside the weights (adapters, context). Equal to
    // weightsHash() when there is nothing beside them, so a checkpoint's
    // state hash is its weights hash; otherwise sha256 of
    // "kme-state-1\n" + weights hash + "\n" + the resident state's digest.
    std::string stateHash() const;
    // Whether adapters or a context act beside the weights.
    bool hasResidentState() const;

    // Tokenizes a prompt; throws ErrorKind::Input for an empty prompt or one
    // longer than the context.
    std::vector<int> encodePrompt(const std::string& text) const;
    // Display text of a token id. Ids past the tokenizer's vocabulary (models
    // whose embedding is padded beyond it) show as "<unused N>".
    std::string tokenText(int id) const;
    // Next-token distribution after `ids`: the k most likely tokens.
    std::vector<TokenProb> topNext(const std::vector<int>& ids, int k) const;
    GenerateResult generate(const std::vector<int>& prompt, const GenerateParams& params) const;

    // Writes the live weights as a complete model folder in the same layout,
    // names and dtypes as the source (single file or the same shards), with
    // config and tokenizer files copied. Folder-atomic (a temporary sibling
    // swapped into place, removed on error); outFolder must be missing or an
    // empty folder, and neither the source folder nor one holding it.
    void save(const std::string& outFolder) const;

private:
    Model();
    struct Impl;
    std::unique_ptr<Impl> d;
};

// Start-up of the compute runtime: sets torch's thread count (0 = all
// cores) and returns a warning when the reference BLAS (not OpenBLAS) got
// loaded, or an empty string.
std::string initComputeRuntime(int threads);
int computeThreads();
std::string blasLibraryInUse();

}  // namespace kme
