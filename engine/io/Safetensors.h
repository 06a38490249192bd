#pragma once
// Safetensors reader (mmap, zero-copy), checkpoint folders (single file or
// Hugging Face shards), an atomic writer, and the weights hash.
//
// File format: 8-byte little-endian header length N, N bytes of JSON
// {"__metadata__": {str: str}?, name: {"dtype", "shape", "data_offsets"}...},
// then the data buffer; data_offsets [begin, end) are relative to the buffer.
//
// The reader indexes and validates the whole header before it maps the file
// and hands out any pointer (STYLE.md 6): every error names the file and,
// where there is one, the tensor. Unlike the reference loader, gaps between
// tensors and trailing bytes are tolerated (harmless); overlaps are not.
#include "engine/io/DType.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kme {

// One tensor inside a mapped file. Valid as long as the SafetensorsFile (or
// the Checkpoint holding it) lives.
struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;     // [d0, d1, ...]; empty for a 0-d scalar
    const uint8_t* data = nullptr;  // little-endian elements, row-major, possibly unaligned
    size_t nbytes = 0;              // bytes at `data` = numel() * dtypeSize(dtype)
    std::string file;               // absolute path of the file holding the bytes
    int64_t numel() const;          // product of shape; 1 for a 0-d scalar
};

// A read-only (PROT_READ, MAP_PRIVATE) mapping of one .safetensors file.
class SafetensorsFile {
public:
    // Throws kme::Error: Io when the file cannot be opened / mapped, Format
    // when its content is malformed.
    static std::shared_ptr<SafetensorsFile> open(const std::string& path);
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    const std::vector<TensorView>& tensors() const { return tensors_; }  // in offset order
    const TensorView* find(const std::string& name) const;              // nullptr if absent
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::string& path() const { return path_; }  // absolute
    size_t fileSize() const { return size_; }          // bytes

private:
    SafetensorsFile() = default;

    std::string path_;
    void* mapping_ = nullptr;  // whole file; nullptr only while constructing
    size_t size_ = 0;          // bytes mapped = file size
    std::vector<TensorView> tensors_;
    std::unordered_map<std::string, size_t> byName_;  // name -> index in tensors_
    std::map<std::string, std::string> metadata_;
};

// One model's weights: a single model.safetensors or the shards listed by
// model.safetensors.index.json. Copies share the mappings.
class Checkpoint {
public:
    // model.safetensors if present, else model.safetensors.index.json.
    static Checkpoint openFolder(const std::string& folder);
    // One .safetensors file.
    static Checkpoint openFile(const std::string& path);

    const std::vector<TensorView>& tensors() const { return tensors_; }  // sorted by name
    const TensorView* find(const std::string& name) const;              // nullptr if absent
    const std::vector<std::string>& files() const { return files_; }    // absolute paths
    const std::vector<std::shared_ptr<SafetensorsFile>>& shards() const { return shards_; }
    bool isSharded() const { return sharded_; }
    // The file opened: model.safetensors, the index JSON, or openFile's path.
    const std::string& source() const { return source_; }

private:
    void addShard(std::shared_ptr<SafetensorsFile> shard);
    void finish();  // sorts tensors_ and builds byName_

    std::string source_;
    bool sharded_ = false;
    std::vector<std::shared_ptr<SafetensorsFile>> shards_;
    std::vector<std::string> files_;
    std::vector<TensorView> tensors_;
    std::unordered_map<std::string, size_t> byName_;  // name -> index in tensors_
};

// A tensor to write or hash; the bytes are borrowed, not owned.
struct TensorData {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;  // [d0, d1, ...]; empty for a 0-d scalar
    const void* data = nullptr;  // nbytes little-endian bytes, row-major
    size_t nbytes = 0;           // must equal numel(shape) * dtypeSize(dtype)
};

// The bytes of a view, as a TensorData (for writing or hashing).
TensorData asTensorData(const TensorView& view);

// Writes one .safetensors file: header JSON (metadata first, then tensors in
// the given order) padded with spaces to a multiple of 8 bytes, then the
// tensors' bytes back to back in the given order. Written through
// engine/core/OutputFile.h (a unique temporary beside path, fsync'ed and
// renamed; devices written in place), so a crash never leaves a half-written
// file at path.
// Throws kme::Error naming the path (Io) or the inconsistent tensor (Format).
void writeSafetensors(const std::string& path, const std::vector<TensorData>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Writes each shard {file name, tensors} into folder (created if needed),
// each with `metadata` as its __metadata__, then model.safetensors.index.json:
// {"metadata": {metadata..., "total_size": bytes of all tensors},
//  "weight_map": {tensor name: shard file name}}.
void writeShardedSafetensors(
    const std::string& folder,
    const std::vector<std::pair<std::string, std::vector<TensorData>>>& shards,
    const std::map<std::string, std::string>& metadata = {});

// The weights identity of DESIGN.md, as 64 lowercase hex characters:
// SHA-256 over all tensors sorted by name (byte-wise), each contributing
//   name bytes, 0x00,
//   dtype name ("F32", "BF16", ...), 0x00,
//   shape as decimal numbers joined by ',' (empty for a 0-d scalar), 0x00,
//   byte count as 8 bytes little-endian,
//   the raw bytes.
// Callers pass canonical names (e.g. without a "transformer." prefix), so the
// hash does not depend on prefixes, file layout or sharding. Throws
// kme::Error (Format) on duplicate names or bytes that do not match a shape.
std::string weightsHash(std::vector<TensorData> tensors);

class Sha256;
// Feeds one tensor's contribution to the weights hash (the lines above) into
// `h`: the weights hash is these contributions in name order, so a caller
// that keeps the hash state before each tensor can resume from the first
// tensor that changed (Model::weightsHash). Throws as weightsHash.
void feedWeightsHash(Sha256& h, const TensorData& t);

// Writes one .safetensors file whose tensor bytes are produced one tensor at
// a time: `fill(i, dst)` writes tensors[i].nbytes bytes at dst (the data
// pointers of `tensors` are ignored). Memory: one tensor. Atomic as
// writeSafetensors (a temporary sibling renamed into place).
void writeSafetensorsStreamed(const std::string& path, const std::vector<TensorData>& tensors,
                              const std::function<void(size_t index, void* dst)>& fill,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace kme
