#pragma once
// Engine-internal: the payload blobs' container (Payload.cpp) for the files
// that read and write one kind of blob (engine/edit/adapters/, WeightDelta.cpp). A blob is
// safetensors bytes whose tensors are F64 matrices and whose __metadata__
// holds "format", "version" ("1") and "meta" (JSON text). Torch-free.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/edit/WeightDelta.h"

namespace kme::blob {

// Safetensors bytes: the 8-byte little-endian header length, the JSON header
// (`metadata` as __metadata__ and an F64 entry per tensor, padded with spaces
// to a multiple of 8), then the matrices back to back, in the order given.
std::string packTensors(const nlohmann::json& metadata,
                        const std::vector<std::pair<std::string, const DeltaMatrix*>>& tensors);
// A payload blob: packTensors with metadata format, version "1" and meta.
std::string pack(const std::string& format, const nlohmann::json& meta,
                 const std::vector<std::pair<std::string, DeltaMatrix>>& tensors);

struct Unpacked {
    nlohmann::json meta;                          // the "meta" object
    std::map<std::string, DeltaMatrix> tensors;   // by name, every value finite
};
// The JSON header of safetensors bytes and its length (the data follow at
// 8 + length); ErrorKind::Format "<what> blob: <reason>" where it is malformed.
nlohmann::json readHeader(const std::string& bytes, const std::string& what, uint64_t& length);
// ErrorKind::Format "<what> blob: <reason>" for anything malformed or not a `format` blob.
Unpacked unpack(const std::string& bytes, const std::string& format, const std::string& what);

DeltaMatrix rows(const std::vector<const std::vector<double>*>& rows, int64_t width);  // [rows.size(), width]
std::vector<double> rowOf(const DeltaMatrix& m, int64_t r);
DeltaMatrix column(const std::vector<double>& v);                                       // [v.size(), 1]
bool allFinite(const std::vector<double>& v);
std::string number(double x);  // 4 significant digits, as the descriptions show numbers

}  // namespace kme::blob
